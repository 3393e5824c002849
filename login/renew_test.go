package login

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/qrcode/redeem"
)

// holderAt authenticates every request as one holder at an assurance
// level: the approvals it lets through are then refused for their level
// or not, as the test needs.
type holderAt int

func (h holderAt) AuthenticateHolder(context.Context, *qrcode.HolderRequest, string) (redeem.Holder, error) {
	return redeem.Holder{Subject: []byte("holder"), Assurance: int(h)}, nil
}

// staticCodeAt verifies every static code as a holder's at an assurance
// level.
type staticCodeAt int

func (s staticCodeAt) VerifyStatic(context.Context, string) (*qrcode.Result, error) {
	return &qrcode.Result{Kind: qrcode.KindStatic, Presenter: qrcode.Party{Subject: []byte("holder")}, Assurance: int(s)}, nil
}

// onePairwise gives every subject one pairwise ID.
type onePairwise struct{}

func (onePairwise) Pairwise([]byte, identity.Sector) (string, error) { return "pairwise-1", nil }

// beforeSessionWrite is a Store that, once armed, runs then before the
// first write (Set or CompareAndSwap) of a login session, and lets that
// write and then's own through.
type beforeSessionWrite struct {
	Store
	armed bool
	then  func()
}

func (b *beforeSessionWrite) fire(key string) {
	if b.armed && strings.HasPrefix(key, "login-session:") {
		b.armed = false
		b.then()
	}
}

func (b *beforeSessionWrite) Set(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	b.fire(key)
	return b.Store.Set(ctx, key, v, ttl)
}

func (b *beforeSessionWrite) CompareAndSwap(ctx context.Context, key string, old, v []byte, ttl time.Duration) (bool, error) {
	b.fire(key)
	return b.Store.CompareAndSwap(ctx, key, old, v, ttl)
}

// TestRenewKeepsCounterApproval: a refused approval gives the session a
// new challenge, and a counter terminal's approval stored
// while a refused approval renews the session's challenge (between the
// renewal's read of the session and its write) stays: the browser gets
// the code. (Before CompareAndSwap the renewal wrote back the session as
// it read it, unapproved, and the browser waited on.)
func TestRenewKeepsCounterApproval(t *testing.T) {
	p := newTestProvider(t)
	ctx := context.Background()
	term, err := gm.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tm, err := identity.NewTerminal("t-1", "counter 1", "310104", term.Public(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	p.cfg.Holders, p.cfg.Pairwise = holderAt(identity.L1), onePairwise{}
	p.cfg.Terminals, p.cfg.StaticCodes = oneTerminal{tm}, staticCodeAt(identity.L2)
	st, err := p.Authorize(ctx, goodQuery())
	if err != nil {
		t.Fatal(err)
	}
	// The holder's binding is at L1, below the login's L2: an approval is
	// refused after its challenge is spent, and the session renewed.
	challenge := func() []byte {
		t.Helper()
		req, err := p.Describe(ctx, st.ID)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := base64.RawURLEncoding.DecodeString(req.Challenge)
		return b
	}
	first := challenge()
	if err := p.Approve(ctx, st.ID, &Approval{Request: qrcode.HolderRequest{Nonce: first}}); !isCode(err, CodeApprovalRefused) {
		t.Fatalf("an approval below the level: %v, want %s", err, CodeApprovalRefused)
	}
	second := challenge()
	if string(second) == string(first) {
		t.Fatal("a refused approval left the session's challenge as it was")
	}

	const static = "TIDST1:printed"
	now := time.Now().Unix()
	tok := jwt.NewWithClaims(gm.SigningMethodSM2, jwt.MapClaims{"iss": "t-1", "aud": "https://node.example", "iat": now, "exp": now + 60,
		"jti": rand.Text(), "login_session": st.ID, "code_hash": CodeHash(static), "method": MethodFace})
	tok.Header["typ"] = CounterAttestationType
	attestation, err := tok.SignedString(term)
	if err != nil {
		t.Fatal(err)
	}
	var counter error
	hook := &beforeSessionWrite{Store: p.cfg.Store, armed: true, then: func() {
		counter = p.ApproveAtCounter(ctx, st.ID, &CounterApproval{StaticCode: static, Attestation: attestation})
	}}
	p.cfg.Store = hook
	if err := p.Approve(ctx, st.ID, &Approval{Request: qrcode.HolderRequest{Nonce: second}}); !isCode(err, CodeApprovalRefused) {
		t.Fatalf("an approval below the level: %v, want %s", err, CodeApprovalRefused)
	}
	if hook.armed || counter != nil {
		t.Fatalf("the counter approval during the renewal: ran %v, %v", !hook.armed, counter)
	}
	out, err := p.Wait(ctx, st.ID, st.Browser, 0)
	if err != nil || out == nil || !strings.Contains(out.Redirect, "code=") {
		t.Fatalf("the browser after the counter approval: %+v %v, want the redirect with its code", out, err)
	}
}
