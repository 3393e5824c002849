package cose

import (
	"context"
	"crypto"
	"fmt"
	"slices"

	"github.com/trustid-cn/trustid/credentials"
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
// that was fetched from url for issuer, and returns the list (its
// purposes, its ttl and the end of its validity). v must be built over the verifier of
// status list credentials (credentials.VerifierConfig with SkipStatus and
// AnyIssuer), as credentials.HTTPStatusSource's is.
func (v *Verifier) VerifyStatusList(ctx context.Context, data []byte, url, issuer string) (*credentials.BitstringList, error) {
	c, err := v.VerifyCredential(ctx, data)
	if err != nil {
		return nil, fmt.Errorf("status list credential: %w", err)
	}
	return credentials.StatusListFromCredential(c, url, issuer)
}

// StatusListForm is the form a credentials.HTTPStatusSource fetches
// Bitstring Status List credentials secured as vc+cose in: it asks for
// application/vc+cose and verifies what it gets with v (built as
// VerifyStatusList's). Put it in HTTPStatusSource.Forms, which then checks
// the list as it checks vc+jwt lists (issuer, URL and, with Anchors, the
// head anchored on the ledger).
func (v *Verifier) StatusListForm() credentials.StatusListForm {
	return credentials.StatusListForm{MediaType: MediaTypeVC, Verify: v.VerifyCredential}
}
