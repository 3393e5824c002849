package oid4vci

import (
	"context"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/qrcode/redeem"
)

// aliceUntil is alice whose device binding expires at until.
type aliceUntil struct {
	alice
	until time.Time
}

func (a aliceUntil) CheckHolder(context.Context, *qrcode.HolderRequest, string) (redeem.Holder, error) {
	return redeem.Holder{Subject: []byte("alice"), Assurance: int(identity.L2), Expiry: a.until}, nil
}

// TestApproverEndsItsToken: an access token from an authorization code
// lasts only while what approved the login stands (login.Standing): once
// the device binding that approved it has expired, the credential
// endpoint refuses the token, before any credential is signed.
func TestApproverEndsItsToken(t *testing.T) {
	m := memoryStore(t)
	ctx := context.Background()
	now := time.Now()
	lp := approvingLoginWith(t, m, aliceUntil{until: now.Add(time.Minute)}, func() time.Time { return now })
	s := newServiceWith(t, Config{Store: m, Login: lp})
	tok, err := s.Token(ctx, codeRequest(approvedCode(t, s, lp, authorizationRequest(t, s))))
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Minute)
	_, body := vciSession(t, s)
	if _, err := s.Credential(ctx, Access{Scheme: "Bearer", Token: tok.AccessToken}, body(1)); code(err) != CodeInvalidToken {
		t.Errorf("the token of a login whose binding expired: %v; want invalid_token", err)
	}
}
