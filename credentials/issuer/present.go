package issuer

import (
	"context"
	"errors"
	"fmt"

	"github.com/trustid-cn/trustid/credentials"
)

// ErrHolder: a presentation names a holder the caller does not present
// as.
var ErrHolder = errors.New("issuer: a client presents only as its own issuer DID")

// PresentOptions are the per-request choices of PresentAsClient.
type PresentOptions struct {
	// Challenge and Domain are the verifier's (both required): the
	// vp+jwt's nonce and aud.
	Challenge, Domain string
	// Algorithm picks the holder key (default: the issuer's).
	Algorithm string
}

// PresentAsClient is the node's holder service: it secures presentation p
// as a vp+jwt signed, for client, with the key the node holds for the
// client's issuer DID (ClientIssuerDID), the only holder it presents as.
// The node keeps no wallet keys: a person's wallet signs its own
// presentations (credentials.SignPresentation); what the node holds are
// the keys of the relying parties accredited to issue through it, which
// hold credentials about themselves. p's holder defaults to the client's
// DID and must be it (else ErrHolder); the credentials in p are the
// caller's to choose and the verifier's to check. Errors as IssueAsClient
// (ErrNotAccredited for a client with no key here), and credentials
// errors for an invalid presentation or a missing challenge or domain.
func (is *Issuer) PresentAsClient(ctx context.Context, p map[string]any, client string, opts PresentOptions) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	as, err := is.client(client)
	if err != nil {
		return "", err
	}
	doc := make(map[string]any, len(p)+1)
	for k, v := range p {
		doc[k] = v
	}
	if _, ok := doc["holder"]; !ok {
		doc["holder"] = as.did
	}
	pres, err := credentials.NewPresentation(doc)
	if err != nil {
		return "", err
	}
	if pres.Holder != as.did {
		return "", fmt.Errorf("%w (%s)", ErrHolder, as.did)
	}
	kid, signer, err := as.signer(opts.Algorithm, is.cfg.Algorithm)
	if err != nil {
		return "", err
	}
	return credentials.SignPresentation(doc, as.did+"#"+kid, credentials.PresentOptions{
		Challenge: opts.Challenge, Domain: opts.Domain, IssuedAt: is.cfg.Now()}, signer)
}
