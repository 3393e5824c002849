package oid4vci

import (
	"context"
	"strings"
	"testing"

	"github.com/trustid-cn/trustid/store"
)

// interleavingStore is the memory store that, the first time a key with
// prefix is read, runs then before it answers: a second request that
// runs whole between the first's read and its next step.
type interleavingStore struct {
	*store.Memory
	prefix string
	then   func()
}

func (s *interleavingStore) Get(ctx context.Context, key string) ([]byte, error) {
	b, err := s.Memory.Get(ctx, key)
	if f := s.then; f != nil && strings.HasPrefix(key, s.prefix) {
		s.then = nil
		f()
	}
	return b, err
}

// TestRedeemedOnceInterleaved is TestRedeemedOnce made deterministic: a
// second token request for a pre-authorized code runs whole after the
// first has read the code's grant and before it spends it. The second
// gets the token; the first, which read a grant that is now spent, gets
// invalid_grant (the single-use redemption marker), not a second token.
func TestRedeemedOnceInterleaved(t *testing.T) {
	m := memoryStore(t)
	st := &interleavingStore{Memory: m, prefix: "oid4vci:code:"}
	s := newService(t, st, nil)
	ctx := context.Background()
	o, err := s.CreateOffer(ctx, OfferRequest{Client: "rp", ConfigurationIDs: []string{"ResidenceCredential_sd_jwt"}, Credential: residence()})
	if err != nil {
		t.Fatal(err)
	}
	c := preAuthCode(t, o)
	var second error
	st.then = func() {
		_, second = s.Token(ctx, TokenRequest{GrantType: GrantPreAuthorized, PreAuthorizedCode: c})
	}
	_, first := s.Token(ctx, TokenRequest{GrantType: GrantPreAuthorized, PreAuthorizedCode: c})
	if second != nil {
		t.Fatalf("the request that ran whole: %v", second)
	}
	if code(first) != CodeInvalidGrant {
		t.Fatalf("the request that read the grant before it was spent: %v, want invalid_grant (one redemption only)", first)
	}
}
