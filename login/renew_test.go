package login

import (
	"context"
	"strings"
	"testing"
	"time"

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

// sessionWrites is a Store that calls before ahead of each write (Set
// or CompareAndSwap) of a login session.
type sessionWrites struct {
	Store
	before func()
}

func (w *sessionWrites) fire(key string) {
	if strings.HasPrefix(key, "login-session:") {
		w.before()
	}
}

func (w *sessionWrites) Set(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	w.fire(key)
	return w.Store.Set(ctx, key, v, ttl)
}

func (w *sessionWrites) CompareAndSwap(ctx context.Context, key string, old, v []byte, ttl time.Duration) (bool, error) {
	w.fire(key)
	return w.Store.CompareAndSwap(ctx, key, old, v, ttl)
}

// beforeFirstSessionWrite is s running then before the first write of a
// login session only, and letting that write and then's own through;
// ran says whether then has run.
func beforeFirstSessionWrite(s Store, then func()) (hooked Store, ran *bool) {
	ran = new(bool)
	return &sessionWrites{Store: s, before: func() {
		if !*ran {
			*ran = true
			then()
		}
	}}, ran
}

// TestRenewKeepsCounterApproval: a refused approval gives the session a
// new challenge, and a counter terminal's approval stored
// while a refused approval renews the session's challenge (between the
// renewal's read of the session and its write) stays: the browser gets
// the code. (Before CompareAndSwap the renewal wrote back the session as
// it read it, unapproved, and the browser waited on.)
func TestRenewKeepsCounterApproval(t *testing.T) {
	a := newAnswering(t, newTestProvider(t))
	a.cfg.Holders = holderAt(identity.L1)
	ctx := context.Background()
	st, err := a.Authorize(ctx, goodQuery())
	if err != nil {
		t.Fatal(err)
	}
	// The holder's binding is at L1, below the login's L2: an approval is
	// refused after its challenge is spent, and the session renewed.
	first := a.holder(t, st.ID)
	if err := a.Approve(ctx, st.ID, first); !isCode(err, CodeApprovalRefused) {
		t.Fatalf("an approval below the level: %v, want %s", err, CodeApprovalRefused)
	}
	second := a.holder(t, st.ID)
	if string(second.Request.Nonce) == string(first.Request.Nonce) {
		t.Fatal("a refused approval left the session's challenge as it was")
	}

	c := a.counter(t, st.ID)
	var counter error
	hooked, ran := beforeFirstSessionWrite(a.cfg.Store, func() { counter = a.ApproveAtCounter(ctx, st.ID, c) })
	a.cfg.Store = hooked
	if err := a.Approve(ctx, st.ID, second); !isCode(err, CodeApprovalRefused) {
		t.Fatalf("an approval below the level: %v, want %s", err, CodeApprovalRefused)
	}
	if !*ran || counter != nil {
		t.Fatalf("the counter approval during the renewal: ran %v, %v", *ran, counter)
	}
	out, err := a.Wait(ctx, st.ID, st.Browser, 0)
	if err != nil || out == nil || !strings.Contains(out.Redirect, "code=") {
		t.Fatalf("the browser after the counter approval: %+v %v, want the redirect with its code", out, err)
	}
}
