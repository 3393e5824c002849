package issuer

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/gm"
)

// ErrHolder: a presentation names a holder the caller does not present
// as.
var ErrHolder = errors.New("issuer: a client presents only as its own issuer DID")

// FormatVPJWT is the built-in presentation format (VC-JOSE-COSE vp+jwt).
const FormatVPJWT = "vp+jwt"

// MediaTypeEmbeddedVP is the media type of a presentation secured by an
// embedded proof (Data Integrity): the VC data model's own.
const MediaTypeEmbeddedVP = "application/vp"

// PresentFormat secures a presentation in one securing mechanism besides
// the built-in vp+jwt: the extension point for vp+cose and Data Integrity
// cryptosuites. Register one in Config.PresentFormats under the name
// PresentOptions.Format carries ("vp+cose", "eddsa-rdfc-2022", ...).
type PresentFormat struct {
	// MediaType is the secured form's media type. For MediaTypeEmbeddedVP
	// Sign returns the presentation with its embedded proof as JSON; for
	// a +cose type, the standard base64 of the COSE message.
	MediaType string
	// Algorithms are the keystore algorithms Sign takes keys of, the
	// first the default.
	Algorithms []string
	// Check, when set, refuses a presentation before it is signed (e.g.
	// undefined JSON-LD terms).
	Check func(doc map[string]any) error
	// Sign secures doc with key, whose verification method (a DID URL of
	// the holder) is vm, for opts' challenge and domain (both set). It
	// must not change doc.
	Sign func(doc map[string]any, vm string, key crypto.Signer, opts credentials.PresentOptions) (string, error)
}

// PresentOptions are the per-request choices of PresentAsClient.
type PresentOptions struct {
	// Challenge and Domain are the verifier's (both required): the
	// vp+jwt's nonce and aud, or the proof's challenge and domain.
	Challenge, Domain string
	// Algorithm picks the holder key (default: the format's first, or
	// for vp+jwt the issuer's default).
	Algorithm string
	// Format names the securing mechanism: "" or FormatVPJWT, or one of
	// Config.PresentFormats (ErrUnknownFormat otherwise).
	Format string
}

// Presented is a secured presentation.
type Presented struct {
	// Format is the format's name, MediaType its secured form's.
	Format, MediaType string
	// Token is the vp+jwt, or what a PresentFormat's Sign returned.
	Token string
}

// Envelope returns the form of the VC API response: an
// EnvelopedVerifiablePresentation with a data: URL, or the presentation
// itself for an embedded proof (MediaTypeEmbeddedVP).
func (p *Presented) Envelope() any {
	if p.MediaType == MediaTypeEmbeddedVP {
		return json.RawMessage(p.Token)
	}
	return credentials.Envelope(p.Token, p.MediaType)
}

// PresentFormats returns the names of the formats the issuer secures
// presentations in, sorted.
func (is *Issuer) PresentFormats() []string {
	names := []string{FormatVPJWT}
	for n := range is.cfg.PresentFormats {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// vpJWT is the built-in vp+jwt presentation format.
var vpJWT = PresentFormat{
	MediaType:  credentials.MediaTypeVPJWT,
	Algorithms: gm.JWTAlgorithms,
	Sign: func(doc map[string]any, vm string, key crypto.Signer, opts credentials.PresentOptions) (string, error) {
		return credentials.SignPresentation(doc, vm, opts, key)
	},
}

// presentFormat returns the canonical name and the PresentFormat of a
// requested format name.
func (is *Issuer) presentFormat(name string) (string, PresentFormat, error) {
	switch name {
	case "", FormatVPJWT, credentials.MediaTypeVPJWT:
		return FormatVPJWT, vpJWT, nil
	}
	if f, ok := is.cfg.PresentFormats[name]; ok {
		return name, f, nil
	}
	for n, f := range is.cfg.PresentFormats {
		if f.MediaType == name && f.MediaType != MediaTypeEmbeddedVP {
			return n, f, nil // a media type names its format (application/vp+cose)
		}
	}
	return "", PresentFormat{}, fmt.Errorf("%w: %q (this node secures presentations as %v)", ErrUnknownFormat, truncate(name), is.PresentFormats())
}

// checkPresentFormats validates Config.PresentFormats.
func checkPresentFormats(fs map[string]PresentFormat) error {
	for name, f := range fs {
		if name == "" || name == FormatVPJWT || name == credentials.MediaTypeVPJWT {
			return fmt.Errorf("issuer: presentation format %q is built in", name)
		}
		if f.MediaType == "" || f.Sign == nil || len(f.Algorithms) == 0 {
			return fmt.Errorf("issuer: presentation format %q needs a media type, algorithms and Sign", name)
		}
		for _, a := range f.Algorithms {
			if !slices.Contains(gm.JWTAlgorithms, a) {
				return fmt.Errorf("issuer: presentation format %q: algorithm %q has no keys in the keystore", name, a)
			}
		}
	}
	return nil
}

// PresentAsClient is the node's holder service: it secures presentation p
// in opts.Format (vp+jwt by default, or a registered PresentFormat: vp+cose,
// a Data Integrity cryptosuite with proofPurpose authentication) signed,
// for client, with the key the node holds for the client's issuer DID
// (ClientIssuerDID), the only holder it presents as. The node keeps no
// wallet keys: a person's wallet signs its own presentations
// (credentials.SignPresentation); what the node holds are the keys of the
// relying parties accredited to issue through it, which hold credentials
// about themselves. p's holder defaults to the client's DID and must be it
// (else ErrHolder); the credentials in p are the caller's to choose and
// the verifier's to check. Errors as IssueAsClient (ErrNotAccredited for a
// client with no key here), ErrUnknownFormat, and credentials errors for
// an invalid presentation or a missing challenge or domain.
func (is *Issuer) PresentAsClient(ctx context.Context, p map[string]any, client string, opts PresentOptions) (*Presented, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	name, f, err := is.presentFormat(opts.Format)
	if err != nil {
		return nil, err
	}
	as, err := is.client(client)
	if err != nil {
		return nil, err
	}
	if _, ok := p["proof"]; ok {
		return nil, fmt.Errorf("%w: proof is set by the holder service, not the request", credentials.ErrInvalidPresentation)
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
		return nil, err
	}
	if pres.Holder != as.did {
		return nil, fmt.Errorf("%w (%s)", ErrHolder, as.did)
	}
	if opts.Challenge == "" || opts.Domain == "" {
		return nil, fmt.Errorf("%w: a presentation needs the verifier's challenge and domain", credentials.ErrChallenge)
	}
	if is.cfg.ContextCheck != nil {
		if err := is.cfg.ContextCheck(doc); err != nil {
			return nil, err
		}
	}
	if f.Check != nil {
		if err := f.Check(doc); err != nil {
			return nil, err
		}
	}
	alg := opts.Algorithm
	switch {
	case alg != "" && !slices.Contains(f.Algorithms, alg):
		return nil, fmt.Errorf("%w: %s presentations are not signed with %q", credentials.ErrUnsupported, name, truncate(alg))
	case alg == "" && name == FormatVPJWT:
		alg = is.cfg.Algorithm
	case alg == "":
		alg = f.Algorithms[0]
	}
	kid, signer, err := as.signer(alg, is.cfg.Algorithm)
	if err != nil {
		return nil, err
	}
	tok, err := f.Sign(doc, as.did+"#"+kid, signer, credentials.PresentOptions{
		Challenge: opts.Challenge, Domain: opts.Domain, IssuedAt: is.cfg.Now()})
	if err != nil {
		return nil, err
	}
	return &Presented{Format: name, MediaType: f.MediaType, Token: tok}, nil
}
