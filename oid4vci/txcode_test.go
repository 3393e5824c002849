package oid4vci

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/store"
)

// TestTxCodeTriesOverItsLife: an offer takes TxCodeTries wrong
// transaction codes over its whole life (docs/oid4vci.md: "5 tries over
// its life; the fifth wrong code deletes it"), however they are spaced:
// the limiter's window was the offer's life, so its GCRA gave a try back
// every OfferTTL/TxCodeTries, and a guesser who waited kept the offer
// alive for 9 tries in its 10 minutes.
func TestTxCodeTriesOverItsLife(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	s, _, o := txCodeOffer(t, &now)
	ctx := context.Background()
	code, wrong := preAuthCode(t, o), strings.Repeat("0", len(o.TxCode))
	if wrong == o.TxCode {
		wrong = strings.Repeat("1", len(o.TxCode))
	}
	tries := 0
	for ; tries < 20; tries++ {
		if tries >= 4 {
			now = now.Add(s.cfg.OfferTTL/time.Duration(s.cfg.TxCodeTries) + time.Second) // wait for the limiter
		}
		_, err := s.Token(ctx, TokenRequest{GrantType: GrantPreAuthorized, PreAuthorizedCode: code, TxCode: wrong})
		var e *Error
		if !errors.As(err, &e) || e.Code != CodeInvalidGrant {
			t.Fatalf("try %d: %v, want invalid_grant", tries+1, err)
		}
		if left := s.cfg.TxCodeTries - tries - 1; left == 1 && e.Description != "wrong transaction code (1 try left)" {
			t.Errorf("try %d: %q, want \"wrong transaction code (1 try left)\"", tries+1, e.Description)
		}
		if !strings.Contains(e.Description, "left)") {
			break // voided, or expired
		}
	}
	if tries+1 > s.cfg.TxCodeTries {
		t.Errorf("the offer took %d wrong transaction codes, want at most %d", tries+1, s.cfg.TxCodeTries)
	}
}

// TestTxCodeMissingOrSpent: a token request without the transaction code
// its offer asks for, or with one its offer does not ask for, is
// invalid_request (OID4VCI §6.3), not a wrong code;
// once the offer's tries are counted (guesses racing, the offer not yet
// deleted), even the right code is refused.
func TestTxCodeMissingOrSpent(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	s, m, o := txCodeOffer(t, &now)
	ctx := context.Background()
	code := preAuthCode(t, o)
	var e *Error
	if _, err := s.Token(ctx, TokenRequest{GrantType: GrantPreAuthorized, PreAuthorizedCode: code}); !errors.As(err, &e) || e.Code != CodeInvalidRequest {
		t.Errorf("no tx_code: %v, want invalid_request", err)
	}
	plain, err := s.CreateOffer(ctx, OfferRequest{Client: "rp", ConfigurationIDs: []string{"ResidenceCredential_sd_jwt"}, Credential: residence()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Token(ctx, TokenRequest{GrantType: GrantPreAuthorized, PreAuthorizedCode: preAuthCode(t, plain), TxCode: "1234"}); !errors.As(err, &e) || e.Code != CodeInvalidRequest {
		t.Errorf("a tx_code for an offer without one: %v, want invalid_request", err)
	}
	for range s.cfg.TxCodeTries {
		if _, err := m.Allow(ctx, "oid4vci:txtry:"+code, s.cfg.TxCodeTries, time.Duration(s.cfg.TxCodeTries)*s.cfg.OfferTTL); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Token(ctx, TokenRequest{GrantType: GrantPreAuthorized, PreAuthorizedCode: code, TxCode: o.TxCode}); !errors.As(err, &e) || e.Code != CodeInvalidGrant {
		t.Errorf("the right code after the tries were spent: %v, want invalid_grant", err)
	}
}

// txCodeOffer is a service on a memory store whose clock reads *now, and
// an offer of it with a transaction code.
func txCodeOffer(t *testing.T, now *time.Time) (*Service, *store.Memory, *Offer) {
	clock := func() time.Time { return *now }
	m, err := store.NewMemory(store.MemoryOptions{Now: clock, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	s := newService(t, m, clock)
	o, err := s.CreateOffer(context.Background(), OfferRequest{Client: "rp", ConfigurationIDs: []string{"ResidenceCredential_sd_jwt"}, Credential: residence(), TxCode: true})
	if err != nil {
		t.Fatal(err)
	}
	return s, m, o
}
