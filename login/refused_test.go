package login

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/qrcode/redeem"
)

// holderAt checks every request as one holder's at an assurance level,
// spending no nonce: the approvals it lets through are then refused for their level
// or not, as the test needs.
type holderAt int

func (h holderAt) CheckHolder(context.Context, *qrcode.HolderRequest, string) (redeem.Holder, error) {
	return redeem.Holder{Subject: []byte("holder"), Assurance: int(h)}, nil
}

func (holderAt) SpendHolder(context.Context, *qrcode.HolderRequest, string, redeem.Holder) error {
	return nil
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

// TestRefusedAnswerWritesNothing: an approval or a refusal refused after
// its holder's request was checked (a binding below the level asked)
// writes nothing: the session keeps its challenge, and a counter
// terminal's approval after it is taken and the browser gets the code.
// (Such an answer gave the session a new challenge before, a write that
// had to keep a counter approval stored meanwhile, and that failed the
// approval of every other holder who had read the challenge.)
func TestRefusedAnswerWritesNothing(t *testing.T) {
	a := newAnswering(t, newTestProvider(t))
	a.cfg.Holders = holderAt(identity.L1)
	ctx := context.Background()
	st, err := a.Authorize(ctx, goodQuery())
	if err != nil {
		t.Fatal(err)
	}
	first := a.holder(t, st.ID)
	hooked, wrote := beforeFirstSessionWrite(a.cfg.Store, func() {})
	a.cfg.Store = hooked
	// The holder's binding is at L1, below the login's L2.
	if err := a.Approve(ctx, st.ID, first); !isCode(err, CodeApprovalRefused) {
		t.Fatalf("an approval below the level: %v, want %s", err, CodeApprovalRefused)
	}
	if err := a.Deny(ctx, st.ID, a.holder(t, st.ID)); !isCode(err, CodeApprovalRefused) {
		t.Fatalf("a refusal below the level: %v, want %s", err, CodeApprovalRefused)
	}
	if *wrote {
		t.Error("a refused answer wrote the session")
	}
	if again := a.holder(t, st.ID); string(again.Request.Nonce) != string(first.Request.Nonce) {
		t.Error("a refused answer changed the session's challenge")
	}
	if err := a.ApproveAtCounter(ctx, st.ID, a.counter(t, st.ID)); err != nil {
		t.Fatalf("the counter approval after refused answers: %v", err)
	}
	out, err := a.Wait(ctx, st.ID, st.Browser, 0)
	if err != nil || out == nil || !strings.Contains(out.Redirect, "code=") {
		t.Fatalf("the browser after the counter approval: %+v %v, want the redirect with its code", out, err)
	}
}

// device is a holder's phone: its device key and the QR binding issued
// to it.
type device struct {
	key     *gm.PrivateKey
	binding []byte
}

// answer is the device's answer to a session with challenge, for purpose
// (an approval or a refusal), signed now.
func (d device) answer(t *testing.T, challenge []byte, purpose string, consent ...string) *Approval {
	t.Helper()
	r := qrcode.HolderRequest{Purpose: purpose, Binding: d.binding, Time: time.Now().Unix(), Nonce: challenge, Region: "310000", Consent: consent}
	if err := qrcode.SignHolderRequest(rand.Reader, d.key, &r); err != nil {
		t.Fatal(err)
	}
	return &Approval{Request: r}
}

// bindingHolders is the node's holder authenticator (spending nonces in
// nonces) for bindings of a fresh issuer key, and a device of that
// issuer for each assurance given.
func bindingHolders(t *testing.T, nonces redeem.NonceStore, assurance ...int) (*redeem.BindingAuthenticator, []device) {
	t.Helper()
	issuerKey, err := gm.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	v, err := qrcode.NewVerifier(qrcode.VerifierConfig{Keys: qrcode.StaticKeys{{Kid: "k1", Public: issuerKey.Public()}}, Status: validStatus{}})
	if err != nil {
		t.Fatal(err)
	}
	iss := &qrcode.Issuer{Signer: issuerKey, Kid: "k1", Region: 310000}
	var devices []device
	for i, l := range assurance {
		key, err := gm.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		b, err := iss.IssueBinding(qrcode.Binding{Subject: bytes.Repeat([]byte{byte(0xa0 + i)}, 33), DeviceKey: key.PublicKey(), Assurance: l,
			IssuedAt: time.Now().Add(-time.Hour), Expiry: time.Now().AddDate(1, 0, 0), Status: qrcode.StatusRef{List: 3, Index: uint32(100 + i)}})
		if err != nil {
			t.Fatal(err)
		}
		devices = append(devices, device{key, b})
	}
	return &redeem.BindingAuthenticator{Verifier: v, Nonces: nonces, Region: "310000"}, devices
}

// TestRefusedAnswersKeepTheChallenge: a bystander who reads the session's
// challenge (its URL is on the person's screen) and answers it with a
// binding below the level asked, again and again, before and between the
// person's answers, is refused and changes nothing: the person's
// approval signed over the challenge their app read first is taken, and
// the browser gets its code. Nothing refused is spent, what is taken is:
// a replay of the approval is refused, and the session is approved once.
// (Each refused answer gave the session a new challenge before, and the
// person's approval was refused as not signing it, for as long as the
// bystander kept answering.)
func TestRefusedAnswersKeepTheChallenge(t *testing.T) {
	a := newAnswering(t, newTestProvider(t))
	holders, devices := bindingHolders(t, a.cfg.Store, qrcode.AssuranceDevice, qrcode.AssuranceDocument)
	person, bystander := devices[0], devices[1]
	a.cfg.Holders = holders
	ctx := context.Background()
	st, err := a.Authorize(ctx, goodQuery())
	if err != nil {
		t.Fatal(err)
	}
	read := a.holder(t, st.ID).Request.Nonce // the person's app reads the session
	approval := person.answer(t, read, qrcode.PurposeLoginApprove)
	var refused []*Approval
	interfere := func() {
		t.Helper()
		for range 3 {
			ap := bystander.answer(t, a.holder(t, st.ID).Request.Nonce, qrcode.PurposeLoginApprove)
			if err := a.Approve(ctx, st.ID, ap); !refusedSaying(err, "below the assurance level") {
				t.Fatalf("the bystander's approval: %v", err)
			}
			deny := bystander.answer(t, a.holder(t, st.ID).Request.Nonce, qrcode.PurposeLoginDeny)
			if err := a.Deny(ctx, st.ID, deny); !refusedSaying(err, "below the assurance level") {
				t.Fatalf("the bystander's refusal: %v", err)
			}
			refused = append(refused, ap)
		}
	}
	interfere()
	// The person's first answer is refused (it names a claim not asked).
	if err := a.Approve(ctx, st.ID, person.answer(t, read, qrcode.PurposeLoginApprove, "address")); !refusedSaying(err, "does not ask for") {
		t.Fatalf("the person's approval releasing a claim not asked: %v", err)
	}
	interfere()
	if err := a.Approve(ctx, st.ID, refused[0]); !refusedSaying(err, "below the assurance level") {
		t.Fatalf("the bystander's approval replayed: %v", err)
	}
	if err := a.Approve(ctx, st.ID, approval); err != nil {
		t.Fatalf("the person's approval over the challenge read before the bystander's answers: %v", err)
	}
	if _, err := holders.AuthenticateHolder(ctx, &approval.Request, qrcode.PurposeLoginApprove); !errors.Is(err, qrcode.ErrHolderAuth) {
		t.Errorf("the approval taken left its nonce unspent: %v", err)
	}
	if err := a.Approve(ctx, st.ID, approval); !isCode(err, CodeSessionNotFound) {
		t.Errorf("the approval replayed: %v, want %s", err, CodeSessionNotFound)
	}
	out, err := a.Wait(ctx, st.ID, st.Browser, 0)
	if err != nil || out == nil || !strings.Contains(out.Redirect, "code=") {
		t.Fatalf("the browser after the approval: %+v %v, want the redirect with its code", out, err)
	}
}
