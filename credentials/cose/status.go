package cose

import (
	"context"
	"crypto"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/status"
)

// SecureStatusList secures a BitstringStatusListCredential document (as
// the issuer builds it for vc+jwt) as application/vc+cose, to serve to
// verifiers that ask for that media type.
func SecureStatusList(doc map[string]any, kid string, key crypto.Signer) ([]byte, error) {
	c, err := credentials.NewCredential(doc)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(c.Types, credentials.TypeBitstringStatusListCredential) {
		return nil, fmt.Errorf("%w: not a %s", credentials.ErrInvalid, credentials.TypeBitstringStatusListCredential)
	}
	return Sign(doc, MediaTypeVC, kid, key)
}

// VerifyStatusList verifies a status list credential secured as vc+cose
// that was fetched from url for issuer, and returns the list, its purpose
// and its ttl (0 when it has none). v must be built over the verifier of
// status list credentials (credentials.VerifierConfig with SkipStatus and
// AnyIssuer), as credentials.HTTPStatusSource's is.
func (v *Verifier) VerifyStatusList(ctx context.Context, data []byte, url, issuer string) (*status.Bitstring, string, time.Duration, error) {
	c, err := v.VerifyCredential(ctx, data)
	if err != nil {
		return nil, "", 0, fmt.Errorf("status list credential: %w", err)
	}
	return credentials.StatusListFromCredential(c, url, issuer)
}

// StatusSource is a credentials.StatusListSource that takes Bitstring
// Status List credentials secured as vc+cose: it asks for
// application/vc+cose and verifies what it gets with Lists. When the
// server does not serve that media type (or cannot be reached) it hands
// the list to Next (a credentials.HTTPStatusSource, for vc+jwt lists and
// Token Status Lists), which fetches it again in its own form. A vc+cose
// list that fails verification fails the check: it never falls back.
// StatusSource does not compare lists with ledger anchors (that is
// HTTPStatusSource's): a verifier whose HTTPStatusSource has Anchors must
// not put it in front, or vc+cose lists would be trusted on their
// signature alone.
type StatusSource struct {
	Client *http.Client
	Lists  *Verifier
	Next   credentials.StatusListSource
}

var _ credentials.StatusListSource = (*StatusSource)(nil)

// Bitstring implements credentials.StatusListSource.
func (s *StatusSource) Bitstring(ctx context.Context, url, issuer string) (*status.Bitstring, string, time.Duration, error) {
	body, err := credentials.Fetch(ctx, s.Client, url, MediaTypeVC)
	if err != nil {
		if s.Next != nil {
			return s.Next.Bitstring(ctx, url, issuer)
		}
		return nil, "", 0, err
	}
	return s.Lists.VerifyStatusList(ctx, body, url, issuer)
}

// Token implements credentials.StatusListSource: Token Status Lists are
// Next's.
func (s *StatusSource) Token(ctx context.Context, uri, issuer string) (*status.TokenList, time.Duration, error) {
	if s.Next == nil {
		return nil, 0, fmt.Errorf("%w: no source for Token Status Lists", credentials.ErrStatusUnavailable)
	}
	return s.Next.Token(ctx, uri, issuer)
}
