package wallet

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/trustid-cn/trustid/holder"
	"github.com/trustid-cn/trustid/internal/b64url"
	"github.com/trustid-cn/trustid/qrcode"
)

// LoginRequest is what a scan-to-login session asks of the holder, to show
// before approving: the relying party, the claims it asks for
// (comma-separated), the assurance level ("L2".."L4"), the challenge the
// approval signs and when the session expires (Unix seconds). Purpose,
// when not empty, says what the login is for when it is not a login to
// the relying party (e.g. "receive ResidenceCredential from bureau", an
// OID4VCI offer): the app must show it with ClientName.
type LoginRequest struct {
	ClientID   string
	ClientName string
	Purpose    string
	Claims     string
	ACR        string
	Challenge  string
	ExpiresAt  int64
}

// DescribeLogin reads the login session at sessionURL (the URL the login
// QR carries: the node's /login/sessions/{id}). A session that is not at
// the wallet's node is ErrForeignSession, before any request
// (loginSession).
func (w *Holder) DescribeLogin(sessionURL string) (*LoginRequest, error) {
	session, err := w.loginSession(sessionURL)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	client := w.client
	w.mu.Unlock()
	resp, err := client.Get(session)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return nil, nodeError(resp.StatusCode, body)
	}
	var r struct {
		ClientID   string    `json:"client_id"`
		ClientName string    `json:"client_name"`
		Purpose    string    `json:"purpose"`
		Claims     []string  `json:"claims"`
		ACR        string    `json:"acr"`
		Challenge  string    `json:"challenge"`
		ExpiresAt  time.Time `json:"expires_at"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Challenge == "" {
		return nil, fmt.Errorf("wallet: the login session answer is not one (%v)", err)
	}
	return &LoginRequest{ClientID: r.ClientID, ClientName: r.ClientName, Purpose: r.Purpose, Claims: strings.Join(r.Claims, ","), ACR: r.ACR,
		Challenge: r.Challenge, ExpiresAt: r.ExpiresAt.Unix()}, nil
}

// loginSessionPath is where the node serves login sessions
// (login.SessionPath without its {id}).
const loginSessionPath = "/login/sessions/"

// loginSession returns the URL of the login session sessionURL names,
// built on the wallet's node URL. The wallet answers logins at its own
// node only: sessionURL must have the node URL's scheme, host and port
// exactly, the path of a login session under the node URL's path
// ({node}/login/sessions/{id}, id base64url), and no user, query or
// fragment; anything else is ErrForeignSession. A login session is
// answered at the node of the holder's region only (the node refuses a
// holder request for another region, and only the region's nodes open
// the binding's PIN verifier), so this refuses no login the holder could
// approve, and the description (the relying party's name the app shows),
// the device proof and the PIN go to no other host.
func (w *Holder) loginSession(sessionURL string) (string, error) {
	node, err := url.Parse(w.node)
	if err != nil {
		return "", fmt.Errorf("%w: the wallet's node URL: %v", ErrForeignSession, err)
	}
	u, err := url.Parse(sessionURL)
	if err != nil || u.Scheme != node.Scheme || u.Host != node.Host || u.User != nil || u.Opaque != "" ||
		u.RawPath != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.RawFragment != "" {
		return "", fmt.Errorf("%w: %.100q is not at %s", ErrForeignSession, sessionURL, w.node)
	}
	id, ok := strings.CutPrefix(u.Path, node.Path+loginSessionPath)
	if !ok || id == "" || len(id) > 64 || strings.Trim(id, b64urlAlphabet) != "" {
		return "", fmt.Errorf("%w: %.100q is not a login session of %s", ErrForeignSession, sessionURL, w.node)
	}
	return w.node + loginSessionPath + id, nil
}

// b64urlAlphabet is the base64url alphabet of session IDs.
const b64urlAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// LoginApproval builds the body of a login session's approval,
// {"request": …, "pin_check": …}: a holder request (as for an online
// code) signed by the device key whose nonce is the session's challenge
// (base64url) and whose consent names the claims the holder releases
// (comma-separated, of those asked), and, when pin is not empty, the PIN
// check the node requires for logins that ask for L3 or L4 (docs/login.md):
// the binding credential kept from enrollment (BindingCredential), a
// fresh device proof for the node and the PIN, checked by the node as
// POST /v1/bindings/pin checks it. With pin "" the approval proves
// possession of the device only, so it approves logins that ask for L2.
// A PIN without a binding credential is ErrNoBindingCredential.
func (w *Holder) LoginApproval(challenge, consent, pin string) ([]byte, error) {
	nonce, err := b64url.DecodeString(challenge)
	if err != nil || len(nonce) < 16 || len(nonce) > 32 {
		return nil, fmt.Errorf("%w: the challenge is not base64url of 16 to 32 bytes", ErrInvalidArgument)
	}
	var check *pinCheck
	if pin != "" {
		if check, err = w.pinCheck(pin); err != nil {
			return nil, err
		}
	}
	req, err := w.holderRequest(qrcode.PurposeLoginApprove, nonce, consent)
	if err != nil {
		return nil, err
	}
	return json.Marshal(struct {
		Request  json.RawMessage `json:"request"`
		PINCheck *pinCheck       `json:"pin_check,omitempty"`
	}{req, check})
}

// pinCheck is the node's PIN check request (enrollment.PINCheckRequest).
type pinCheck struct {
	BindingCredential string `json:"binding_credential"`
	DeviceProof       string `json:"device_proof"`
	PIN               string `json:"pin"`
}

// pinCheck builds the PIN check of an approval: the binding credential, a
// fresh device proof for the node (spent by the node) and the PIN.
func (w *Holder) pinCheck(pin string) (*pinCheck, error) {
	if len(pin) != 6 || strings.Trim(pin, "0123456789") != "" {
		return nil, fmt.Errorf("%w: the PIN must be six digits", ErrInvalidArgument)
	}
	w.mu.Lock()
	if w.copies == nil {
		w.mu.Unlock()
		return nil, ErrNotEnrolled
	}
	cred := w.copies[0].bindingCredential
	w.mu.Unlock()
	if cred == "" {
		return nil, ErrNoBindingCredential
	}
	s, err := newStoreSigner(w.keys, w.alias)
	if err != nil {
		return nil, err
	}
	proof, err := holder.NewDeviceProof(s, w.node, w.clock(), rand.Text())
	if err != nil {
		return nil, err
	}
	return &pinCheck{BindingCredential: cred, DeviceProof: proof, PIN: pin}, nil
}

// ApproveLogin approves the login session at sessionURL (POST
// sessionURL/approve) with LoginApproval(challenge, consent, pin): pin
// "" for a login that asks for L2, the holder's PIN for L3 and L4 (the
// level DescribeLogin reports as ACR). A session that is not at the
// wallet's node is ErrForeignSession, before anything is signed or sent.
// A refusal wraps ErrApprovalRefused and carries the node's description,
// e.g. "wrong PIN; 4 attempts left": a wrong PIN leaves the session open,
// so the holder may try again on it.
func (w *Holder) ApproveLogin(sessionURL, challenge, consent, pin string) error {
	session, err := w.loginSession(sessionURL)
	if err != nil {
		return err
	}
	body, err := w.LoginApproval(challenge, consent, pin)
	if err != nil {
		return err
	}
	w.mu.Lock()
	client := w.client
	w.mu.Unlock()
	resp, err := client.Post(session+"/approve", "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return nodeError(resp.StatusCode, out)
	}
	return nil
}

// nodeError turns a node's error answer into an error naming its code,
// wrapping the qrcode sentinel of the code when there is one.
// The node's description, meant to be shown, follows.
func nodeError(status int, body []byte) error {
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	json.Unmarshal(body, &e)
	desc := ""
	if e.Description != "" {
		desc = ": " + truncate(e.Description, 200)
	}
	if s := qrcode.ErrorFromCode(e.Error); s != nil {
		return fmt.Errorf("wallet: node refused (%s): %w%s", e.Error, s, desc)
	}
	if e.Error == codeApprovalRefused {
		return fmt.Errorf("%w (HTTP %d %s)%s", ErrApprovalRefused, status, e.Error, desc)
	}
	return fmt.Errorf("wallet: node answered HTTP %d %s%s", status, e.Error, desc)
}

// codeApprovalRefused is the node's error code for a refused login
// approval (login.CodeApprovalRefused).
const codeApprovalRefused = "approval_refused"

// truncate cuts s to at most n bytes, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
