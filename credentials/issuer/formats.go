package issuer

import (
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/gm"
)

// Format secures a W3C credential document in one securing mechanism: the
// extension point for vc+cose and Data Integrity cryptosuites. The issuer
// prepares the document (issuer, id, validFrom, the request's checks and
// the node's status entries in credentialStatus) and then calls Sign with
// a key of one of Algorithms. Register a Format in Config.Formats under
// its name (what IssueOptions.Format and the VC API's options.format
// carry, e.g. "vc+cose" or "ecdsa-rdfc-2019").
type Format struct {
	// MediaType is the secured form's media type. The issue response
	// envelopes the result in a data: URL (EnvelopedVerifiableCredential),
	// except for MediaTypeEmbedded: then Sign returns the credential
	// document itself, with its embedded proof, as JSON.
	MediaType string
	// Algorithms are the keystore algorithms (gm.AlgSM2, gm.AlgES256,
	// gm.AlgEdDSA) Sign takes keys of, the first the default.
	Algorithms []string
	// Check, when set, refuses a prepared document before the issuer
	// reserves status entries for it (e.g. undefined JSON-LD terms).
	Check func(doc map[string]any) error
	// Sign secures doc with key, whose verification method (a DID URL) is
	// vm. It must not change doc.
	Sign func(doc map[string]any, vm string, key crypto.Signer) (string, error)
}

// MediaTypeEmbedded is the media type of a credential secured by an
// embedded proof (Data Integrity): the VC data model's own.
const MediaTypeEmbedded = "application/vc"

// ErrUnknownFormat: the request names a securing mechanism this issuer
// does not have.
var ErrUnknownFormat = errors.New("issuer: unknown credential format")

// vcJWT is the built-in vc+jwt format (VC-JOSE-COSE).
var vcJWT = Format{
	MediaType:  credentials.MediaTypeVCJWT,
	Algorithms: gm.JWTAlgorithms,
	// The JWT claims are the credential: no vc or vp, iss the issuer.
	Check: credentials.CheckJOSEClaims,
	Sign: func(doc map[string]any, vm string, key crypto.Signer) (string, error) {
		return credentials.SignJWT(doc, credentials.TypVCJWT, vm, key)
	},
}

// formatNames maps the names a request may use for the built-in formats
// (the media types, and the names TrustID used before) to their names.
var formatNames = map[string]string{
	"": FormatVCJWT, FormatVCJWT: FormatVCJWT, "jwt": FormatVCJWT, credentials.MediaTypeVCJWT: FormatVCJWT,
	FormatSDJWT: FormatSDJWT, credentials.TypSDJWTVC: FormatSDJWT, "vc+sd-jwt": FormatSDJWT, credentials.MediaTypeSDJWT: FormatSDJWT,
}

// Formats returns the names of the formats the issuer secures credentials
// in, sorted.
func (is *Issuer) Formats() []string {
	names := []string{FormatVCJWT, credentials.TypSDJWTVC}
	for n := range is.cfg.Formats {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// format returns the canonical name and, for W3C-document formats, the
// Format of a requested format name.
func (is *Issuer) format(name string) (string, Format, error) {
	if n, ok := formatNames[name]; ok {
		if n == FormatVCJWT {
			return n, vcJWT, nil
		}
		return n, Format{}, nil
	}
	if f, ok := is.cfg.Formats[name]; ok {
		return name, f, nil
	}
	return "", Format{}, fmt.Errorf("%w: %q (this node issues %v)", ErrUnknownFormat, truncate(name), is.Formats())
}

// checkFormats validates Config.Formats.
func checkFormats(fs map[string]Format) error {
	for name, f := range fs {
		if _, builtin := formatNames[name]; builtin || name == credentials.TypSDJWTVC {
			return fmt.Errorf("issuer: format %q is built in", name)
		}
		if name == "" || f.MediaType == "" || f.Sign == nil || len(f.Algorithms) == 0 {
			return fmt.Errorf("issuer: format %q needs a media type, algorithms and Sign", name)
		}
		for _, a := range f.Algorithms {
			if !slices.Contains(gm.JWTAlgorithms, a) {
				return fmt.Errorf("issuer: format %q: algorithm %q has no keys in the keystore", name, a)
			}
		}
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// SecureStatusList returns a Bitstring Status List credential secured in
// the registered format whose media type is mediaType (for example
// application/vc+cose), signed with the node's key, for a verifier that
// asks for that form. A +cose format's Sign returns base64 (binary
// COSE); the bytes are returned decoded. ErrUnknownFormat when no format
// has the media type, credentials.ErrNotFound when the list is a Token
// Status List or does not exist. Embedded proofs have their own method
// (SecureStatusListEmbedded).
func (is *Issuer) SecureStatusList(ctx context.Context, listID, mediaType string) ([]byte, error) {
	var f Format
	for _, name := range slices.Sorted(maps.Keys(is.cfg.Formats)) {
		if g := is.cfg.Formats[name]; g.MediaType == mediaType && mediaType != MediaTypeEmbedded {
			f = g
			break
		}
	}
	if f.Sign == nil {
		return nil, fmt.Errorf("%w: no format of media type %q", ErrUnknownFormat, truncate(mediaType))
	}
	return is.secureStatusList(ctx, listID, mediaType, f)
}

// SecureStatusListEmbedded returns a Bitstring Status List credential
// secured with an embedded proof (a Data Integrity cryptosuite: a
// registered format of media type MediaTypeEmbedded) as JSON, signed with
// the node's key, and the format's name. format names the format (a
// cryptosuite); "" means the node's default: the embedded format whose
// first algorithm is the issuer's default algorithm (sm2-rdfc-2025 for
// SM2), else the first such format by name. ErrUnknownFormat when there is
// no such format, credentials.ErrNotFound as SecureStatusList.
func (is *Issuer) SecureStatusListEmbedded(ctx context.Context, listID, format string) ([]byte, string, error) {
	if format == "" {
		for _, name := range slices.Sorted(maps.Keys(is.cfg.Formats)) {
			g := is.cfg.Formats[name]
			if g.MediaType != MediaTypeEmbedded {
				continue
			}
			if format == "" || g.Algorithms[0] == is.cfg.Algorithm {
				format = name
			}
			if g.Algorithms[0] == is.cfg.Algorithm {
				break
			}
		}
	}
	f, ok := is.cfg.Formats[format]
	if !ok || f.MediaType != MediaTypeEmbedded {
		return nil, "", fmt.Errorf("%w: no embedded-proof format %q", ErrUnknownFormat, truncate(format))
	}
	b, err := is.secureStatusList(ctx, listID, MediaTypeEmbedded+";"+format, f)
	return b, format, err
}

// secureStatusList signs list listID's credential with f, cached per list
// version under key.
func (is *Issuer) secureStatusList(ctx context.Context, listID, key string, f Format) ([]byte, error) {
	doc, _, err := is.StatusList(ctx, listID)
	if err != nil {
		return nil, err
	}
	if doc == nil {
		return nil, fmt.Errorf("%w: a Token Status List has only its statuslist+jwt form", credentials.ErrNotFound)
	}
	// The route is public: sign once per list version, as StatusList
	// encodes (its entry, and so this cache, is replaced on a change).
	subject, _ := doc["credentialSubject"].(map[string]any)
	version, _ := subject[credentials.ClaimListVersion].(uint64)
	is.mu.Lock()
	e := is.lists[listID]
	b, ok := e.secured[key]
	is.mu.Unlock()
	if ok && e.version == version {
		return b, nil
	}
	alg := is.cfg.Algorithm
	if !slices.Contains(f.Algorithms, alg) {
		alg = f.Algorithms[0]
	}
	kid, signer, err := is.signer(alg)
	if err != nil {
		return nil, err
	}
	if f.MediaType == MediaTypeEmbedded {
		// JSON-LD processing takes the document as JSON decodes it (the
		// list's version is a uint64 here).
		raw, err := json.Marshal(doc)
		if err != nil {
			return nil, err
		}
		if doc, err = credentials.ParseJSONObject(raw); err != nil {
			return nil, err
		}
	}
	out, err := f.Sign(doc, is.did+"#"+kid, signer)
	if err != nil {
		return nil, err
	}
	b = []byte(out)
	if strings.HasSuffix(f.MediaType, "+cose") {
		if b, err = base64.StdEncoding.DecodeString(out); err != nil {
			return nil, err
		}
	}
	is.mu.Lock()
	if e, ok := is.lists[listID]; ok && e.version == version {
		e.secured = maps.Clone(e.secured)
		if e.secured == nil {
			e.secured = map[string][]byte{}
		}
		e.secured[key] = b
		is.lists[listID] = e
	}
	is.mu.Unlock()
	return b, nil
}
