package wallet

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
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
)

// Holder is a holder's wallet for one node: a device key in a KeyStore,
// and once enrolled the device binding (the holder copy the node issued)
// and the identity credential, and the device-binding credential its PIN
// checks present. (It is not named Wallet: gobind puts the
// package's functions in a Java class named after the package,
// wallet.Wallet.) Its state to persist is Binding,
// IdentityCredential and Counter (restore with Restore), and
// BindingCredential (restore with SetBindingCredential). Safe for
// concurrent use.
type Holder struct {
	node  string
	keys  KeyStore
	alias string

	mu         sync.Mutex
	binding    []byte
	region     string
	credential string
	// bindingCredential is the device-binding vc+jwt (with the sealed PIN
	// verifier) that PIN checks present.
	bindingCredential string
	counter           int64
	// attestation is the wallet attestation (Client Attestation JWT) of
	// the instance key under attestationKey, if the app gave one.
	attestation, attestationKey string
	now                         func() time.Time
	rand                        io.Reader
	client                      *http.Client
}

// NewHolder returns a wallet for the node at base URL node whose device
// key is (or will be) the key under alias in keys.
func NewHolder(node string, keys KeyStore, alias string) (*Holder, error) {
	if node == "" || keys == nil || alias == "" {
		return nil, fmt.Errorf("%w: a wallet needs a node URL, a key store and an alias", ErrInvalidArgument)
	}
	return &Holder{node: strings.TrimSuffix(node, "/"), keys: keys, alias: alias, now: time.Now, rand: rand.Reader,
		client: &http.Client{Timeout: 15 * time.Second}}, nil
}

// SetTimeout sets the timeout of the wallet's calls to the node, in
// seconds.
func (w *Holder) SetTimeout(seconds int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.client = &http.Client{Timeout: time.Duration(seconds) * time.Second}
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

// EnrollmentRequest builds the JSON body of POST /v1/enrollments for this
// device: the document number and name, the device key and a fresh device
// proof for the node, and when given the PIN and a terminal's attestation.
// The app's back end (a client with scope identity:enroll) sends it; the
// number is not kept by the wallet.
func (w *Holder) EnrollmentRequest(number, name, pin, attestation string) ([]byte, error) {
	if number == "" || name == "" {
		return nil, fmt.Errorf("%w: number and name are required", ErrInvalidArgument)
	}
	s, err := newStoreSigner(w.keys, w.alias)
	if err != nil {
		return nil, err
	}
	j, err := gm.NewJWK(s.pub, "")
	if err != nil {
		return nil, err
	}
	proof, err := holder.NewDeviceProof(s, w.node, w.clock(), rand.Text())
	if err != nil {
		return nil, err
	}
	body := map[string]any{"document": map[string]any{"number": number}, "name": name, "device_key": j, "device_proof": proof}
	if pin != "" {
		body["pin"] = pin
	}
	if attestation != "" {
		body["attestation"] = attestation
	}
	return json.Marshal(body)
}

// AcceptEnrollment reads the node's enrollment answer (the JSON of a 201
// from POST /v1/enrollments) and keeps its QR binding, which must be bound
// to this device key, its identity credential and its device-binding
// credential (for PIN checks; it must be bound to this device key too).
func (w *Holder) AcceptEnrollment(response []byte) error {
	var r struct {
		QRBinding          []byte `json:"qr_binding"`
		IdentityCredential struct {
			Credential string `json:"credential"`
		} `json:"identity_credential"`
		BindingCredential struct {
			Credential string `json:"credential"`
		} `json:"binding_credential"`
	}
	if err := json.Unmarshal(response, &r); err != nil {
		return fmt.Errorf("%w: enrollment answer: %v", ErrInvalidArgument, err)
	}
	if err := w.Restore(r.QRBinding, r.IdentityCredential.Credential, 0); err != nil {
		return err
	}
	if r.BindingCredential.Credential == "" {
		w.mu.Lock()
		w.bindingCredential = ""
		w.mu.Unlock()
		return nil
	}
	return w.SetBindingCredential(r.BindingCredential.Credential)
}

// SetBindingCredential sets the device-binding credential (the vc+jwt
// binding_credential.credential of the enrollment answer, which
// AcceptEnrollment keeps) after a restart: the PIN checks of L3/L4 login
// approvals present it. Its cnf.jwk must be this device key. The wallet
// does not verify the node's signature (the node does, at each check).
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
	w.bindingCredential = credential
	return nil
}

// BindingCredential returns the device-binding credential ("" when the
// wallet has none), to persist.
func (w *Holder) BindingCredential() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.bindingCredential
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

// Restore sets the wallet's persisted state: the holder copy of its
// binding, its identity credential ("" for none) and the last offline
// code counter.
func (w *Holder) Restore(binding []byte, identityCredential string, counter int64) error {
	b, err := qrcode.ParseBinding(binding)
	if err != nil {
		return fmt.Errorf("%w: binding: %w", ErrInvalidArgument, err)
	}
	s, err := newStoreSigner(w.keys, w.alias)
	if err != nil {
		return err
	}
	if !b.DeviceKey.Equal(s.pub) {
		return fmt.Errorf("%w: the binding is bound to another device key", ErrInvalidArgument)
	}
	if counter < 0 {
		return fmt.Errorf("%w: negative counter", ErrInvalidArgument)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.binding, w.region, w.credential, w.counter = bytes.Clone(binding), fmt.Sprintf("%06d", b.Region), identityCredential, counter
	return nil
}

// Binding returns the holder copy of the device binding (nil before
// enrollment), to persist.
func (w *Holder) Binding() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return bytes.Clone(w.binding)
}

// IdentityCredential returns the identity credential (an SD-JWT VC), to
// persist.
func (w *Holder) IdentityCredential() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.credential
}

// Counter returns the counter of the last offline code, to persist.
func (w *Holder) Counter() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.counter
}

// OnlineCodeRequest builds the device-signed JSON body of POST /v1/qr,
// releasing the comma-separated consented claims (may be empty).
func (w *Holder) OnlineCodeRequest(consent string) ([]byte, error) {
	nonce := make([]byte, 16)
	if _, err := io.ReadFull(w.rand, nonce); err != nil {
		return nil, err
	}
	return w.holderRequest(qrcode.PurposeOnlineCode, nonce, consent)
}

// holderRequest signs a qrcode.HolderRequest for purpose with nonce and
// consent.
func (w *Holder) holderRequest(purpose string, nonce []byte, consent string) ([]byte, error) {
	w.mu.Lock()
	binding, region := w.binding, w.region
	w.mu.Unlock()
	if binding == nil {
		return nil, ErrNotEnrolled
	}
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

// OfflineCode makes an offline code ("TIDOFF2:...") signed by the device
// key, showing the comma-separated claims (may be empty) and naming the
// optional audience and challenge of the verifier. Each code advances the
// counter.
func (w *Holder) OfflineCode(claims, audience string, challenge []byte) (string, error) {
	s, err := newStoreSigner(w.keys, w.alias)
	if err != nil {
		return "", err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.binding == nil {
		return "", ErrNotEnrolled
	}
	p := qrcode.Presentation{Time: w.now(), Counter: uint64(w.counter + 1), Audience: audience, Challenge: challenge, Claims: splitList(claims)}
	code, err := qrcode.NewOffline(w.rand, s, w.binding, nil, p)
	if err != nil {
		return "", err
	}
	w.counter++
	return code, nil
}

// Present builds an SD-JWT VC presentation of the identity credential
// disclosing only the comma-separated top-level claims in disclose, with a
// key-binding JWT for the verifier's audience and nonce signed by the
// device key.
func (w *Holder) Present(disclose, audience, nonce string) (string, error) {
	w.mu.Lock()
	cred := w.credential
	w.mu.Unlock()
	if cred == "" {
		return "", ErrNotEnrolled
	}
	return w.PresentCredential(cred, disclose, audience, nonce)
}

// PresentCredential is Present for any SD-JWT VC bound to the device key.
// Every name in disclose must be a disclosable claim of the credential.
func (w *Holder) PresentCredential(credential, disclose, audience, nonce string) (string, error) {
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
	s, err := newStoreSigner(w.keys, w.alias)
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
	return sd.Present(keep, &sdjwt.KeyBinding{Signer: s, Audience: audience, Nonce: nonce, IssuedAt: w.clock()})
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
