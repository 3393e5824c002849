// Package distatus takes Bitstring Status List credentials secured with
// a Data Integrity proof: it verifies them (VerifyStatusList) and gives a
// credentials.HTTPStatusSource the form to fetch them in (Form), which
// then checks them as it checks vc+jwt lists (issuer, URL and, with
// Anchors, the head anchored on the ledger). It wires the credentials
// verifier to the Data Integrity library, which links neither credentials
// nor keys (internal/layering).
package distatus

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/dataintegrity"
)

// VerifyStatusList verifies, with v, a Bitstring Status List credential secured
// with an embedded proof (JSON, as served with dataintegrity.MediaTypeVC) that was
// fetched from url for issuer, and returns the list (its purposes, its
// ttl and the end of its validity). The proof must verify with a key of the
// issuer (assertionMethod), and the credential must pass v's Checker: v
// must be built over the verifier of status list credentials
// (Checker: CheckWith(lists.CheckCredential), lists a
// credentials.Verifier with SkipStatus and AnyIssuer), as
// credentials.HTTPStatusSource's is, so that the list credential gets the
// same checks as in its vc+jwt and vc+cose forms. It does not compare the
// list with the ledger: an HTTPStatusSource with Form does.
func VerifyStatusList(ctx context.Context, v *dataintegrity.Verifier, data []byte, url, issuer string) (*credentials.BitstringList, error) {
	c, err := verifyList(ctx, v, data)
	if err != nil {
		return nil, fmt.Errorf("status list credential: %w", err)
	}
	return credentials.StatusListFromCredential(c, url, issuer)
}

// Form is the form an HTTPStatusSource fetches Bitstring Status List
// credentials secured with a Data Integrity proof in: it asks for
// dataintegrity.MediaTypeVC (VC Data Model 2.0's application/vc) and
// takes MediaTypeVCLD too, and verifies what it gets with lists (built
// as VerifyStatusList's v). A document without a proof (a server's plain
// JSON form) is credentials.ErrStatusFormUnsecured: the source moves to
// its next form. Put it in HTTPStatusSource.Forms.
func Form(lists *dataintegrity.Verifier) credentials.StatusListForm {
	return credentials.StatusListForm{MediaType: dataintegrity.MediaTypeVC, AlsoServedAs: []string{MediaTypeVCLD},
		Verify: func(ctx context.Context, body []byte) (*credentials.Credential, error) {
			c, err := verifyList(ctx, lists, body)
			if errors.Is(err, dataintegrity.ErrNoProof) {
				return nil, fmt.Errorf("%w: %w", credentials.ErrStatusFormUnsecured, err)
			}
			return c, err
		}}
}

// MediaTypeVCLD is the media type the drafts of VC Data Model 2.0 gave a
// credential (JSON-LD) before the Recommendation registered
// application/vc; status list servers still label credentials with an
// embedded proof so.
const MediaTypeVCLD = "application/vc+ld+json"

// verifyList verifies a list credential with an embedded proof. Its type
// is checked here too (as in every form, credentials.StatusListFromCredential
// checks it) so that a list that is none fails invalid before its issuer
// is compared, as it always has.
func verifyList(ctx context.Context, v *dataintegrity.Verifier, data []byte) (*credentials.Credential, error) {
	res, err := v.VerifyCredential(ctx, data)
	if err != nil {
		return nil, err
	}
	c, err := credentials.NewCredential(res.Document)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(c.Types, credentials.TypeBitstringStatusListCredential) {
		return nil, fmt.Errorf("%w: not a %s", credentials.ErrInvalid, credentials.TypeBitstringStatusListCredential)
	}
	return c, nil
}
