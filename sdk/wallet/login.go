package wallet

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/trustid-cn/trustid/qrcode"
)

// LoginRequest is what a scan-to-login session asks of the holder, to show
// before approving: the relying party, the claims it asks for
// (comma-separated), the assurance level ("L2".."L4"), the challenge the
// approval signs and when the session expires (Unix seconds).
type LoginRequest struct {
	ClientID   string
	ClientName string
	Claims     string
	ACR        string
	Challenge  string
	ExpiresAt  int64
}

// DescribeLogin reads the login session at sessionURL (the URL the login
// QR carries: the node's /login/sessions/{id}).
func (w *Holder) DescribeLogin(sessionURL string) (*LoginRequest, error) {
	w.mu.Lock()
	client := w.client
	w.mu.Unlock()
	resp, err := client.Get(sessionURL)
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
		Claims     []string  `json:"claims"`
		ACR        string    `json:"acr"`
		Challenge  string    `json:"challenge"`
		ExpiresAt  time.Time `json:"expires_at"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Challenge == "" {
		return nil, fmt.Errorf("wallet: the login session answer is not one (%v)", err)
	}
	return &LoginRequest{ClientID: r.ClientID, ClientName: r.ClientName, Claims: strings.Join(r.Claims, ","), ACR: r.ACR,
		Challenge: r.Challenge, ExpiresAt: r.ExpiresAt.Unix()}, nil
}

// LoginApproval builds the body of a login session's approval,
// {"request": …}: a holder request (as for an online code) signed by the
// device key whose nonce is the session's challenge (base64url) and whose
// consent names the claims the holder releases (comma-separated, of those
// asked). It carries no PIN check, so it approves logins that ask for L2.
func (w *Holder) LoginApproval(challenge, consent string) ([]byte, error) {
	nonce, err := base64.RawURLEncoding.DecodeString(challenge)
	if err != nil || len(nonce) < 16 || len(nonce) > 32 {
		return nil, fmt.Errorf("%w: the challenge is not base64url of 16 to 32 bytes", ErrInvalidArgument)
	}
	req, err := w.holderRequest(nonce, consent)
	if err != nil {
		return nil, err
	}
	return json.Marshal(struct {
		Request json.RawMessage `json:"request"`
	}{req})
}

// ApproveLogin approves the login session at sessionURL (POST
// sessionURL/approve) with LoginApproval.
func (w *Holder) ApproveLogin(sessionURL, challenge, consent string) error {
	body, err := w.LoginApproval(challenge, consent)
	if err != nil {
		return err
	}
	w.mu.Lock()
	client := w.client
	w.mu.Unlock()
	resp, err := client.Post(strings.TrimSuffix(sessionURL, "/")+"/approve", "application/json", bytes.NewReader(body))
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
func nodeError(status int, body []byte) error {
	var e struct {
		Error string `json:"error"`
	}
	json.Unmarshal(body, &e)
	if s := qrcode.ErrorFromCode(e.Error); s != nil {
		return fmt.Errorf("wallet: node refused (%s): %w", e.Error, s)
	}
	return fmt.Errorf("wallet: node answered HTTP %d %s", status, e.Error)
}
