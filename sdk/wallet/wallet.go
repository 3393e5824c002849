package wallet

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/trustid-cn/trustid/credentials/sdjwt"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/holder"
	"github.com/trustid-cn/trustid/internal/b64url"
	"github.com/trustid-cn/trustid/qrcode"
)

// Errors of the wallet.
var (
	// ErrNotEnrolled: the wallet has no device binding yet.
	ErrNotEnrolled = errors.New("wallet: not enrolled (no device binding)")
	// ErrInvalidArgument: an argument the wallet refuses (an empty name,
	// an unknown claim, a malformed credential).
	ErrInvalidArgument = errors.New("wallet: invalid argument")
	// ErrNoBindingCredential: a PIN check needs the device-binding
	// credential from enrollment, which the wallet does not have (restore
	// it with SetBindingCredential).
	ErrNoBindingCredential = errors.New("wallet: no device-binding credential (needed for a PIN check)")
	// ErrApprovalRefused: the node refused a login approval (a wrong PIN,
	// a level the binding does not reach, an answered session); the
	// error's text carries the node's description.
	ErrApprovalRefused = errors.New("wallet: the node refused the login approval")
	// ErrForeignSession: a login session URL (from a scanned QR or an app
	// link) that is not a login session of the wallet's own node; the
	// wallet sends it nothing.
	ErrForeignSession = errors.New("wallet: the login session is not at this wallet's node")
	// ErrInsecureURL: a node URL the wallet does not call: not https,
	// nor plain http to localhost or a loopback address (a node under
	// test); or with user information, a query or a fragment. The wallet
	// sends its node enrollment requests, login approvals and PIN checks.
	ErrInsecureURL = errors.New("wallet: not an https URL (plain http only to loopback)")
)

// Holder is a holder's wallet for one node: a device key in a KeyStore,
// and once enrolled the copies of its enrollment (see EnrollmentRequest):
// each a holder copy of the device binding, an identity credential and a
// device-binding credential, under a key of its own. (It is not named
// Wallet: gobind puts the package's functions in a Java class named after
// the package, wallet.Wallet.) Its state to persist is State (restore
// with RestoreState). Safe for concurrent use.
type Holder struct {
	node  string
	keys  KeyStore
	alias string

	mu sync.Mutex
	// copies are the enrollment's copies, the device key's first.
	copies []*enrolledCopy
	// pending are the aliases of the keys EnrollmentRequest made besides
	// the device key, awaiting AcceptEnrollment.
	pending []string
	// copyCount is how many copies EnrollmentRequest asks for.
	copyCount int
	// attestation is the wallet attestation (Client Attestation JWT) of
	// the instance key under attestationKey, if the app gave one.
	attestation, attestationKey string
	now                         func() time.Time
	rand                        io.Reader
	client                      *http.Client
}

// NewHolder returns a wallet for the node at base URL node (https, or
// http to a loopback host: ErrInsecureURL) whose device key is (or will
// be) the key under alias in keys.
func NewHolder(node string, keys KeyStore, alias string) (*Holder, error) {
	if node == "" || keys == nil || alias == "" {
		return nil, fmt.Errorf("%w: a wallet needs a node URL, a key store and an alias", ErrInvalidArgument)
	}
	u, err := url.Parse(node)
	if err != nil {
		return nil, fmt.Errorf("%w: the node URL is not a URL", ErrInsecureURL)
	}
	if u.Opaque != "" || strings.ContainsAny(node, "?#") || !secureURL(u) {
		return nil, fmt.Errorf("%w: %.80q", ErrInsecureURL, u.Redacted())
	}
	return &Holder{node: strings.TrimSuffix(node, "/"), keys: keys, alias: alias, copyCount: DefaultCopies, now: time.Now, rand: rand.Reader,
		client: newClient(15 * time.Second)}, nil
}

// ErrRedirect: a server answered the wallet with an HTTP redirect, which
// the wallet does not follow: a 307 or 308 would have it send the same
// body (a presentation, a pre-authorized code and transaction code, a
// PIN) to a URL that was never checked (an attested response_uri, the
// issuer's endpoint, the wallet's own node).
var ErrRedirect = errors.New("wallet: the server answered with a redirect, which the wallet does not follow")

// newClient is the wallet's HTTP client: timeout, and no redirect
// followed (ErrRedirect).
func newClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return ErrRedirect }}
}

// MaxTimeout is the longest timeout SetTimeout takes, in seconds (an
// hour).
const MaxTimeout = 3600

// SetTimeout sets the timeout of the wallet's calls (to the node,
// verifiers and issuers), in seconds: 1 to MaxTimeout (default 15). Any
// other is ErrInvalidArgument and keeps the timeout: zero, or a negative
// or overflowing duration, would be no timeout at all, a call to a
// server that never answers waiting for ever.
func (w *Holder) SetTimeout(seconds int64) error {
	if seconds < 1 || seconds > MaxTimeout {
		return fmt.Errorf("%w: a timeout of %d s is not 1 to %d s", ErrInvalidArgument, seconds, MaxTimeout)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.client = newClient(time.Duration(seconds) * time.Second)
	return nil
}

// CreateDeviceKey generates the device key in the key store and returns
// its public JWK (JSON).
func (w *Holder) CreateDeviceKey() (string, error) {
	if _, err := w.keys.Generate(w.alias); err != nil {
		return "", err
	}
	return w.DeviceKeyJWK()
}

// DeviceKeyJWK returns the device key's public JWK (JSON).
func (w *Holder) DeviceKeyJWK() (string, error) {
	s, err := newStoreSigner(w.keys, w.alias)
	if err != nil {
		return "", err
	}
	j, err := gm.NewJWK(s.pub, "")
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(j)
	return string(b), err
}

// DefaultCopies is how many copies EnrollmentRequest asks for unless
// SetCopies says otherwise: the node's maximum (enrollment.MaxDeviceKeys),
// so that up to 16 parties each see a copy no other party saw.
const DefaultCopies = 16

// SetCopies sets how many copies (1 to DefaultCopies) the next
// EnrollmentRequest asks for.
func (w *Holder) SetCopies(n int64) error {
	if n < 1 || n > DefaultCopies {
		return fmt.Errorf("%w: 1 to %d copies", ErrInvalidArgument, DefaultCopies)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.copyCount = int(n)
	return nil
}

// EnrollmentRequest builds the JSON body of POST /v1/enrollments for this
// device: the document number and name, the device keys each with a fresh
// device proof for the node, and when given the PIN and a terminal's
// attestation (made for the device key). It asks for SetCopies copies
// (DefaultCopies): the device key's, and one per fresh key it makes in the
// key store (device_keys); a single copy is the device_key form. The
// app's back end (a client with scope identity:enroll) sends it, and the
// answer goes to AcceptEnrollment of this Holder (it alone knows the fresh
// keys' aliases). The number is not kept by the wallet.
func (w *Holder) EnrollmentRequest(number, name, pin, attestation string) ([]byte, error) {
	if number == "" || name == "" {
		return nil, fmt.Errorf("%w: number and name are required", ErrInvalidArgument)
	}
	w.mu.Lock()
	n := w.copyCount
	w.mu.Unlock()
	aliases := []string{w.alias}
	for range n - 1 {
		var r [8]byte
		if _, err := io.ReadFull(w.rand, r[:]); err != nil {
			return nil, err
		}
		a := w.alias + ".copy." + hex.EncodeToString(r[:])
		if _, err := w.keys.Generate(a); err != nil {
			return nil, err
		}
		aliases = append(aliases, a)
	}
	type keyProof struct {
		Key   gm.JWK `json:"key"`
		Proof string `json:"proof"`
	}
	keys := make([]keyProof, len(aliases))
	for i, a := range aliases {
		s, err := newStoreSigner(w.keys, a)
		if err != nil {
			return nil, err
		}
		if keys[i].Key, err = gm.NewJWK(s.pub, ""); err != nil {
			return nil, err
		}
		if keys[i].Proof, err = holder.NewDeviceProof(s, w.node, w.clock(), rand.Text()); err != nil {
			return nil, err
		}
	}
	body := map[string]any{"document": map[string]any{"number": number}, "name": name}
	if len(keys) == 1 {
		body["device_key"], body["device_proof"] = keys[0].Key, keys[0].Proof
	} else {
		body["device_keys"] = keys
	}
	if pin != "" {
		body["pin"] = pin
	}
	if attestation != "" {
		body["attestation"] = attestation
	}
	out, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	w.pending = aliases[1:]
	w.mu.Unlock()
	return out, nil
}

// enrolledCopy is one copy of the enrollment and what it was shown to.
type enrolledCopy struct {
	alias             string // of its key in the KeyStore
	binding           []byte // the holder copy of its QR binding
	region            string
	credential        string // its identity credential (SD-JWT VC), or ""
	bindingCredential string // its device-binding vc+jwt, or ""
	counter           int64  // of its last offline code
	// parties are the parties (offline code audiences, presentation
	// audiences) it was shown to.
	parties []string
}

// newCopy checks a copy: its binding and binding credential (if any) must
// be bound to the key under alias.
func (w *Holder) newCopy(alias string, binding []byte, credential, bindingCredential string, counter int64) (*enrolledCopy, error) {
	b, err := qrcode.ParseBinding(binding)
	if err != nil {
		return nil, fmt.Errorf("%w: binding: %w", ErrInvalidArgument, err)
	}
	s, err := newStoreSigner(w.keys, alias)
	if err != nil {
		return nil, err
	}
	if !b.DeviceKey.Equal(s.pub) {
		return nil, fmt.Errorf("%w: the binding is bound to another device key", ErrInvalidArgument)
	}
	if counter < 0 {
		return nil, fmt.Errorf("%w: negative counter", ErrInvalidArgument)
	}
	if bindingCredential != "" {
		if err := checkBindingCredential(bindingCredential, s.pub); err != nil {
			return nil, err
		}
	}
	return &enrolledCopy{alias: alias, binding: bytes.Clone(binding), region: fmt.Sprintf("%06d", b.Region),
		credential: credential, bindingCredential: bindingCredential, counter: counter}, nil
}

// AcceptEnrollment reads the node's enrollment answer (the JSON of a 201
// from POST /v1/enrollments) and keeps every copy: its QR binding, which
// must be bound to the device key or to one of the keys the last
// EnrollmentRequest made, its identity credential and its device-binding
// credential (for PIN checks; bound to the same key). The device key's
// copy must be among them.
func (w *Holder) AcceptEnrollment(response []byte) error {
	type answerCopy struct {
		QRBinding          []byte `json:"qr_binding"`
		IdentityCredential struct {
			Credential string `json:"credential"`
		} `json:"identity_credential"`
		BindingCredential struct {
			Credential string `json:"credential"`
		} `json:"binding_credential"`
	}
	var r struct {
		answerCopy
		Copies []answerCopy `json:"copies"`
	}
	if err := json.Unmarshal(response, &r); err != nil {
		return fmt.Errorf("%w: enrollment answer: %v", ErrInvalidArgument, err)
	}
	if len(r.Copies) == 0 { // a node before batch issuance
		r.Copies = []answerCopy{r.answerCopy}
	}
	w.mu.Lock()
	aliases := append([]string{w.alias}, w.pending...)
	w.mu.Unlock()
	copies := make([]*enrolledCopy, len(aliases))
	for _, a := range r.Copies {
		b, err := qrcode.ParseBinding(a.QRBinding)
		if err != nil {
			return fmt.Errorf("%w: binding: %w", ErrInvalidArgument, err)
		}
		i := slices.IndexFunc(aliases, func(alias string) bool {
			s, err := newStoreSigner(w.keys, alias)
			return err == nil && b.DeviceKey.Equal(s.pub)
		})
		if i < 0 || copies[i] != nil {
			return fmt.Errorf("%w: the binding is bound to another device key", ErrInvalidArgument)
		}
		if copies[i], err = w.newCopy(aliases[i], a.QRBinding, a.IdentityCredential.Credential, a.BindingCredential.Credential, 0); err != nil {
			return err
		}
	}
	if copies[0] == nil {
		return fmt.Errorf("%w: the enrollment has no copy of the device key", ErrInvalidArgument)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.copies, w.pending = slices.DeleteFunc(copies, func(c *enrolledCopy) bool { return c == nil }), nil
	return nil
}

// SetBindingCredential sets the device-binding credential of the device
// key's copy (the vc+jwt binding_credential.credential of the enrollment
// answer, which AcceptEnrollment keeps), for a state restored with
// Restore: the PIN checks of L3/L4 login approvals present it. Its
// cnf.jwk must be this device key. The wallet does not verify the node's
// signature (the node does, at each check).
func (w *Holder) SetBindingCredential(credential string) error {
	s, err := newStoreSigner(w.keys, w.alias)
	if err != nil {
		return err
	}
	if err := checkBindingCredential(credential, s.pub); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.copies == nil {
		return ErrNotEnrolled
	}
	w.copies[0].bindingCredential = credential
	return nil
}

// BindingCredential returns the device key's device-binding credential
// ("" when the wallet has none): the one PIN checks present.
func (w *Holder) BindingCredential() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.copies == nil {
		return ""
	}
	return w.copies[0].bindingCredential
}

// checkBindingCredential checks that a vc+jwt's subject is bound to
// device (cnf.jwk); it does not check the signature.
func checkBindingCredential(token string, device crypto.PublicKey) error {
	parts := strings.Split(token, ".")
	if len(token) > 64<<10 || len(parts) != 3 {
		return fmt.Errorf("%w: the binding credential is not a compact JWS", ErrInvalidArgument)
	}
	raw, err := b64url.DecodeString(parts[1])
	if err != nil {
		return fmt.Errorf("%w: binding credential payload: %v", ErrInvalidArgument, err)
	}
	var p struct {
		Subject struct {
			Cnf struct {
				JWK *gm.JWK `json:"jwk"`
			} `json:"cnf"`
		} `json:"credentialSubject"`
	}
	if err := json.Unmarshal(raw, &p); err != nil || p.Subject.Cnf.JWK == nil {
		return fmt.Errorf("%w: the binding credential has no credentialSubject.cnf.jwk", ErrInvalidArgument)
	}
	pub, err := p.Subject.Cnf.JWK.PublicKey()
	if err != nil {
		return fmt.Errorf("%w: binding credential cnf.jwk: %v", ErrInvalidArgument, err)
	}
	if k, ok := pub.(interface{ Equal(crypto.PublicKey) bool }); !ok || !k.Equal(device) {
		return fmt.Errorf("%w: the binding credential is bound to another device key", ErrInvalidArgument)
	}
	return nil
}

// Restore reads a single-copy state as wallets before State saved it:
// the holder copy of the device key's binding, its identity credential
// ("" for none) and the last offline code counter (the binding credential
// follows with SetBindingCredential). It replaces every copy.
func (w *Holder) Restore(binding []byte, identityCredential string, counter int64) error {
	c, err := w.newCopy(w.alias, binding, identityCredential, "", counter)
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.copies = []*enrolledCopy{c}
	return nil
}

// Binding returns the holder copy of the device key's binding (nil before
// enrollment).
func (w *Holder) Binding() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.copies == nil {
		return nil
	}
	return bytes.Clone(w.copies[0].binding)
}

// IdentityCredential returns the device key's identity credential (an
// SD-JWT VC).
func (w *Holder) IdentityCredential() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.copies == nil {
		return ""
	}
	return w.copies[0].credential
}

// copyFor returns the copy to show party, recording it: the copy already
// shown to it, else the copy shown to the fewest parties (the first among
// equals), so that each party gets a copy no other party saw while there
// are copies left. Once all have been shown, the parties sharing a copy
// can link what they saw: the app should enroll again (a new batch)
// before. w.mu must be held and the wallet enrolled.
func (w *Holder) copyFor(party string) *enrolledCopy {
	shown := make([][]string, len(w.copies))
	for i, c := range w.copies {
		shown[i] = c.parties
	}
	c := w.copies[leastShown(shown, party)]
	if !slices.Contains(c.parties, party) {
		c.parties = append(c.parties, party)
	}
	return c
}

// OnlineCodeRequest builds the device-signed JSON body of POST /v1/qr,
// releasing the comma-separated consented claims (may be empty). It uses
// the device key's copy (see holderRequest).
func (w *Holder) OnlineCodeRequest(consent string) ([]byte, error) {
	nonce := make([]byte, 16)
	if _, err := io.ReadFull(w.rand, nonce); err != nil {
		return nil, err
	}
	return w.holderRequest(qrcode.PurposeOnlineCode, nonce, consent)
}

// holderRequest signs a qrcode.HolderRequest for purpose with nonce and
// consent, with the device key's copy: online codes and login approvals
// go to the node, which can link every copy anyway, and the party
// redeeming them sees its pairwise ID, the same whichever copy.
func (w *Holder) holderRequest(purpose string, nonce []byte, consent string) ([]byte, error) {
	w.mu.Lock()
	if w.copies == nil {
		w.mu.Unlock()
		return nil, ErrNotEnrolled
	}
	binding, region := w.copies[0].binding, w.copies[0].region
	w.mu.Unlock()
	s, err := newStoreSigner(w.keys, w.alias)
	if err != nil {
		return nil, err
	}
	req := qrcode.HolderRequest{Purpose: purpose, Binding: binding, Time: w.clock().Unix(), Nonce: nonce, Region: region, Consent: splitList(consent)}
	if err := qrcode.SignHolderRequest(w.rand, s, &req); err != nil {
		return nil, err
	}
	return json.Marshal(req)
}

// RequestOnlineCode asks the node for an online code (POST /v1/qr) and
// returns its text ("TIDON1:..."), to show as a QR code until it expires.
// A refusal is an error naming the node's code (qr_revoked, ...).
func (w *Holder) RequestOnlineCode(consent string) (string, error) {
	body, err := w.OnlineCodeRequest(consent)
	if err != nil {
		return "", err
	}
	w.mu.Lock()
	client := w.client
	w.mu.Unlock()
	resp, err := client.Post(w.node+"/v1/qr", "application/json", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusCreated {
		return "", nodeError(resp.StatusCode, out)
	}
	var r struct {
		Code string `json:"code"`
	}
	if err := json.Unmarshal(out, &r); err != nil || r.Code == "" {
		return "", fmt.Errorf("wallet: the node's answer has no code")
	}
	return r.Code, nil
}

// OfflineCode makes an offline code ("TIDOFF2:...") signed by the key of
// the copy for the audience (see copyFor; codes without an audience share
// one copy), showing the comma-separated claims (may be empty) and naming
// the optional audience and challenge of the verifier. Each code advances
// its copy's counter.
func (w *Holder) OfflineCode(claims, audience string, challenge []byte) (string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.copies == nil {
		return "", ErrNotEnrolled
	}
	c := w.copyFor(audience)
	s, err := newStoreSigner(w.keys, c.alias)
	if err != nil {
		return "", err
	}
	p := qrcode.Presentation{Time: w.now(), Counter: uint64(c.counter + 1), Audience: audience, Challenge: challenge, Claims: splitList(claims)}
	code, err := qrcode.NewOffline(w.rand, s, c.binding, nil, p)
	if err != nil {
		return "", err
	}
	c.counter++
	return code, nil
}

// Present builds an SD-JWT VC presentation of the identity credential of
// the copy for the audience (see copyFor) disclosing only the
// comma-separated top-level claims in disclose, with a key-binding JWT
// for the verifier's audience and nonce signed by that copy's key.
func (w *Holder) Present(disclose, audience, nonce string) (string, error) {
	if audience == "" || nonce == "" {
		return "", fmt.Errorf("%w: audience and nonce are required", ErrInvalidArgument)
	}
	w.mu.Lock()
	if w.copies == nil {
		w.mu.Unlock()
		return "", ErrNotEnrolled
	}
	c := w.copyFor(audience)
	cred, alias := c.credential, c.alias
	w.mu.Unlock()
	if cred == "" {
		return "", ErrNotEnrolled
	}
	return w.present(cred, alias, disclose, audience, nonce)
}

// PresentCredential is Present for any SD-JWT VC bound to the device key.
// Every name in disclose must be a disclosable claim of the credential,
// and a claim nested in a disclosable one comes with that one named too
// (RFC 9901 §7.2).
func (w *Holder) PresentCredential(credential, disclose, audience, nonce string) (string, error) {
	return w.present(credential, w.alias, disclose, audience, nonce)
}

// present is PresentCredential with the key under alias.
func (w *Holder) present(credential, alias, disclose, audience, nonce string) (string, error) {
	if audience == "" || nonce == "" {
		return "", fmt.Errorf("%w: audience and nonce are required", ErrInvalidArgument)
	}
	sd, err := sdjwt.Split(credential)
	if err != nil {
		return "", fmt.Errorf("%w: credential: %w", ErrInvalidArgument, err)
	}
	want := map[string]bool{}
	for _, n := range splitList(disclose) {
		want[n] = true
	}
	for _, d := range sd.Disclosures {
		delete(want, d.Name)
	}
	for n := range want {
		return "", fmt.Errorf("%w: the credential has no disclosable claim %q", ErrInvalidArgument, n)
	}
	names := splitList(disclose)
	s, err := newStoreSigner(w.keys, alias)
	if err != nil {
		return "", err
	}
	keep := func(d *sdjwt.Disclosure) bool {
		for _, n := range names {
			if d.Name == n {
				return true
			}
		}
		return false
	}
	pres, err := sd.Present(keep, &sdjwt.KeyBinding{Signer: s, Audience: audience, Nonce: nonce, IssuedAt: w.clock()})
	if errors.Is(err, sdjwt.ErrUnmatched) {
		return "", fmt.Errorf("%w: disclose names a claim nested in one it does not name: %w", ErrInvalidArgument, err)
	}
	return pres, err
}

func (w *Holder) clock() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.now()
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
