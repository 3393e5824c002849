// Package distatus takes Bitstring Status List credentials secured with
// a Data Integrity proof: it verifies them (VerifyStatusList) and fetches
// them for a credentials.StatusChecker (StatusSource). It wires the
// credentials verifier to the Data Integrity library, which links neither
// credentials nor keys (internal/layering).
package distatus

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/dataintegrity"
	"github.com/trustid-cn/trustid/credentials/status"
)

// VerifyStatusList verifies, with v, a Bitstring Status List credential secured
// with an embedded proof (JSON, as served with dataintegrity.MediaTypeVC) that was
// fetched from url for issuer, and returns the list, its purpose and its
// ttl (0 when it has none). The proof must verify with a key of the
// issuer (assertionMethod), and the credential must pass v's Checker: v
// must be built over the verifier of status list credentials
// (Checker: CheckWith(lists.CheckCredential), lists a
// credentials.Verifier with SkipStatus and AnyIssuer), as
// credentials.HTTPStatusSource's is, so that the list credential gets the
// same checks as in its vc+jwt and vc+cose forms.
func VerifyStatusList(ctx context.Context, v *dataintegrity.Verifier, data []byte, url, issuer string) (*status.Bitstring, string, time.Duration, error) {
	doc, err := v.VerifyCredential(ctx, data)
	if err != nil {
		return nil, "", 0, fmt.Errorf("status list credential: %w", err)
	}
	c, err := credentials.NewCredential(doc)
	if err != nil {
		return nil, "", 0, fmt.Errorf("status list credential: %w", err)
	}
	if !slices.Contains(c.Types, credentials.TypeBitstringStatusListCredential) {
		return nil, "", 0, fmt.Errorf("%w: not a %s", credentials.ErrInvalid, credentials.TypeBitstringStatusListCredential)
	}
	return credentials.StatusListFromCredential(c, url, issuer)
}

// StatusSource is a credentials.StatusListSource that takes Bitstring
// Status List credentials secured with a Data Integrity proof: it asks
// for dataintegrity.MediaTypeVC and verifies what it gets with Lists. When the server
// does not serve that media type (or cannot be reached) it hands the list
// to Next (a credentials.HTTPStatusSource, or a cose.StatusSource in front
// of one), which fetches it again in its own form. A list that fails
// verification fails the check: it never falls back. Like
// cose.StatusSource, it does not compare lists with ledger anchors: a
// verifier whose HTTPStatusSource has Anchors must not put it in front.
type StatusSource struct {
	Client *http.Client
	Lists  *dataintegrity.Verifier
	Next   credentials.StatusListSource
}

var _ credentials.StatusListSource = (*StatusSource)(nil)

// Bitstring implements credentials.StatusListSource.
func (s *StatusSource) Bitstring(ctx context.Context, url, issuer string) (*status.Bitstring, string, time.Duration, error) {
	body, err := credentials.Fetch(ctx, s.Client, url, dataintegrity.MediaTypeVC)
	if err != nil {
		if s.Next != nil {
			return s.Next.Bitstring(ctx, url, issuer)
		}
		return nil, "", 0, err
	}
	return VerifyStatusList(ctx, s.Lists, body, url, issuer)
}

// Token implements credentials.StatusListSource: Token Status Lists are
// Next's.
func (s *StatusSource) Token(ctx context.Context, uri, issuer string) (*status.TokenList, time.Duration, error) {
	if s.Next == nil {
		return nil, 0, fmt.Errorf("%w: no source for Token Status Lists", credentials.ErrStatusUnavailable)
	}
	return s.Next.Token(ctx, uri, issuer)
}
