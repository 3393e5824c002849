package credentials

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha3"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/trustid-cn/trustid/credentials/multikey"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/b64url"
)

// Integrity of related resources (VC Data Model 2.0 §5.3): a credential's
// relatedResource lists resources by id with a digestSRI (W3C Subresource
// Integrity hash expressions) and/or a digestMultibase (a multibase
// multihash, VC Data Integrity §2.6). VerifyRelated hashes the bytes of
// each resource, given by the caller or, only when the caller allows it,
// fetched through the guarded fetch client, and reports an outcome per
// resource.

// Errors of related resource verification; test with errors.Is.
var (
	// ErrRelatedMismatch: a related resource's bytes do not match the
	// digest the credential gives for it. Verification fails.
	ErrRelatedMismatch = errors.New("credentials: related resource digest mismatch")
	// ErrRelatedUnavailable: a related resource was neither given nor
	// fetched, so its digest was not checked. It is an error only with
	// RelatedOptions.RequireAll; otherwise the outcome says so.
	ErrRelatedUnavailable = errors.New("credentials: related resource not checked")
	// ErrDigestMalformed: a digestSRI or digestMultibase cannot be parsed:
	// a known algorithm with a bad base64 value or a wrong length, an
	// unknown multibase prefix, a truncated multihash.
	ErrDigestMalformed = errors.New("credentials: malformed resource digest")
	// ErrDigestUnsupported: a digest names no algorithm TrustID computes
	// (SRI: sha256, sha384, sha512; multihash: sha2-256/384/512,
	// sha3-256/384/512, sm3-256). Unknown algorithms are ignored as SRI
	// says, but a resource left with none cannot be checked. It also
	// matches ErrUnsupported.
	ErrDigestUnsupported = fmt.Errorf("%w: no supported digest algorithm", ErrUnsupported)
)

// Related resource limits.
const (
	// DefaultMaxRelatedSize bounds the bytes of one related resource
	// (RelatedOptions.MaxSize), given or fetched.
	DefaultMaxRelatedSize = 1 << 20
	// MaxRelatedResources bounds the relatedResource entries checked.
	MaxRelatedResources = 64
	// maxDigestLen bounds one digestSRI or digestMultibase string: the
	// base58 decoder is quadratic, and a real digest list is short.
	maxDigestLen = 2048
)

// RelatedOutcome is what VerifyRelated found for one resource.
type RelatedOutcome string

const (
	// RelatedVerified: the bytes match every digest that counts (SRI's
	// strongest algorithm, and every usable multibase digest).
	RelatedVerified RelatedOutcome = "verified"
	// RelatedMismatch: the bytes do not match.
	RelatedMismatch RelatedOutcome = "mismatch"
	// RelatedUnavailable: no bytes to hash: neither given nor fetched
	// (fetching not allowed, or the fetch failed). Not checked.
	RelatedUnavailable RelatedOutcome = "unavailable"
	// RelatedInvalid: the credential's digest is malformed or uses no
	// supported algorithm, so it cannot be checked.
	RelatedInvalid RelatedOutcome = "invalid"
)

// RelatedResult is the outcome for one relatedResource entry, in the
// credential's order.
type RelatedResult struct {
	ID        string
	MediaType string
	Outcome   RelatedOutcome
	// Fetched says the bytes came from a fetch rather than the caller.
	Fetched bool
	// Err explains any outcome but RelatedVerified (wrapping one of this
	// file's sentinels, or ErrResolve for a failed fetch).
	Err error
}

// RelatedOptions says where VerifyRelated finds the bytes of related
// resources. The zero value fetches nothing: every resource not in
// Content is RelatedUnavailable.
type RelatedOptions struct {
	// Content holds resources the caller has, by id (exactly the
	// relatedResource id). They are used as given, never fetched.
	Content map[string][]byte
	// Fetch allows fetching resources not in Content, over HTTPS with
	// Client (nil: the default guarded client). A client not built by
	// NewFetchClient is guarded as Resolver's are: public addresses
	// only, no redirects.
	Fetch  bool
	Client *http.Client
	// MaxSize bounds one resource (default DefaultMaxRelatedSize); a
	// larger one, given or fetched, is RelatedUnavailable.
	MaxSize int
	// RequireAll makes an unavailable resource an error
	// (ErrRelatedUnavailable) instead of only an outcome.
	RequireAll bool
}

// RelatedResource is one relatedResource entry.
type RelatedResource struct {
	ID              string
	MediaType       string
	DigestSRI       string   // empty when absent
	DigestMultibase []string // nil when absent
}

// RelatedResources reads the relatedResource entries of a credential
// (none when it has no relatedResource). The shape is checked as
// NewCredential checks it; the digests are parsed by VerifyRelated.
func RelatedResources(credential map[string]any) ([]RelatedResource, error) {
	v, ok := credential["relatedResource"]
	if !ok {
		return nil, nil
	}
	items, err := objects(v, false)
	if err != nil {
		return nil, fmt.Errorf("%w: relatedResource: %v", ErrInvalid, err)
	}
	if len(items) > MaxRelatedResources {
		return nil, fmt.Errorf("%w: relatedResource: over %d entries", ErrInvalid, MaxRelatedResources)
	}
	out := make([]RelatedResource, 0, len(items))
	seen := map[string]bool{}
	for i, it := range items {
		var r RelatedResource
		if r.ID, err = URLString(it["id"]); err != nil {
			return nil, fmt.Errorf("%w: relatedResource[%d].id: %v", ErrInvalid, i, err)
		}
		if seen[r.ID] {
			return nil, fmt.Errorf("%w: relatedResource[%d].id repeats an earlier resource", ErrInvalid, i)
		}
		seen[r.ID] = true
		if mt, ok := it["mediaType"]; ok {
			s, _ := mt.(string)
			if _, _, err := mime.ParseMediaType(s); err != nil || s == "" {
				return nil, fmt.Errorf("%w: relatedResource[%d].mediaType is not a media type", ErrInvalid, i)
			}
			r.MediaType = s
		}
		if d, ok := it["digestSRI"]; ok {
			s, _ := d.(string)
			if s == "" {
				return nil, fmt.Errorf("%w: relatedResource[%d].digestSRI must be a non-empty string", ErrInvalid, i)
			}
			r.DigestSRI = s
		}
		if d, ok := it["digestMultibase"]; ok {
			if r.DigestMultibase, err = stringList(d); err != nil {
				return nil, fmt.Errorf("%w: relatedResource[%d].digestMultibase: %v", ErrInvalid, i, err)
			}
		}
		if r.DigestSRI == "" && r.DigestMultibase == nil {
			return nil, fmt.Errorf("%w: relatedResource[%d]: digestSRI or digestMultibase is required", ErrInvalid, i)
		}
		out = append(out, r)
	}
	return out, nil
}

// CheckRelatedResources checks a credential's relatedResource entries,
// for an issuer, as VerifyRelated will read them: the shape
// (RelatedResources) and every digest, which must be of the grammar VC
// Data Model 2.0 §5.3 names (digestSRI: SRI hash expressions;
// digestMultibase: multibase multihashes). Errors match ErrInvalid. A
// digest of an algorithm TrustID does not compute is not an error (SRI
// ignores unknown algorithms); one it cannot parse is.
func CheckRelatedResources(credential map[string]any) error {
	rs, err := RelatedResources(credential)
	if err != nil {
		return err
	}
	for i, r := range rs {
		if _, err := ParseRelatedDigests(r.DigestSRI, r.DigestMultibase); errors.Is(err, ErrDigestMalformed) {
			return &FieldError{Err: ErrInvalid, Field: fmt.Sprintf("relatedResource[%d]", i), Rule: "digestSRI or digestMultibase is malformed (VC Data Model 2.0 §5.3)"}
		}
	}
	return nil
}

// stringList reads a non-empty string or a non-empty array of non-empty
// strings.
func stringList(v any) ([]string, error) {
	switch t := v.(type) {
	case string:
		if t != "" {
			return []string{t}, nil
		}
	case []any:
		out := make([]string, 0, len(t))
		for _, e := range t {
			s, _ := e.(string)
			if s == "" {
				return nil, errors.New("must be non-empty strings")
			}
			out = append(out, s)
		}
		if len(out) > 0 {
			return out, nil
		}
	}
	return nil, errors.New("must be a non-empty string or array of strings")
}

// VerifyRelated checks the relatedResource digests of a credential whose
// proof v has verified (its document: Verified.Credential, or
// Credential.Map). It returns one result per entry, in order, and an
// error when any resource mismatches (ErrRelatedMismatch) or carries a
// digest that cannot be checked (ErrDigestMalformed,
// ErrDigestUnsupported), or, with opts.RequireAll, when one is
// unavailable. The results are returned with the error too. A credential
// without relatedResource gives no results and no error. Content for ids
// the credential does not list is ignored.
func (v *Verifier) VerifyRelated(ctx context.Context, credential map[string]any, opts RelatedOptions) ([]RelatedResult, error) {
	return VerifyRelated(ctx, credential, opts)
}

// VerifyRelated is Verifier.VerifyRelated, for callers without a Verifier
// (a wallet checking a credential it holds).
func VerifyRelated(ctx context.Context, credential map[string]any, opts RelatedOptions) ([]RelatedResult, error) {
	rs, err := RelatedResources(credential)
	if err != nil || len(rs) == 0 {
		return nil, err
	}
	if opts.MaxSize <= 0 {
		opts.MaxSize = DefaultMaxRelatedSize
	}
	results := make([]RelatedResult, len(rs))
	var errs []error
	for i, r := range rs {
		res := &results[i]
		res.ID, res.MediaType = r.ID, r.MediaType
		d, err := ParseRelatedDigests(r.DigestSRI, r.DigestMultibase)
		if err != nil {
			res.Outcome, res.Err = RelatedInvalid, err
			errs = append(errs, fmt.Errorf("relatedResource[%d]: %w", i, err))
			continue
		}
		data, given := opts.Content[r.ID]
		if given && len(data) > opts.MaxSize {
			res.Outcome, res.Err = RelatedUnavailable, fmt.Errorf("%w: the given content is over %d bytes", ErrRelatedUnavailable, opts.MaxSize)
		} else if !given && !opts.Fetch {
			res.Outcome, res.Err = RelatedUnavailable, fmt.Errorf("%w: not given, and fetching is not allowed", ErrRelatedUnavailable)
		} else if !given {
			data, err = fetchRelated(ctx, opts.Client, r.ID, r.MediaType, opts.MaxSize)
			if err != nil {
				res.Outcome, res.Err = RelatedUnavailable, fmt.Errorf("%w: %w", ErrRelatedUnavailable, err)
			}
			res.Fetched = err == nil
		}
		if res.Outcome == RelatedUnavailable {
			if opts.RequireAll {
				errs = append(errs, fmt.Errorf("relatedResource[%d]: %w", i, res.Err))
			}
			continue
		}
		if err := d.Match(data); err != nil {
			res.Outcome, res.Err = RelatedMismatch, err
			errs = append(errs, fmt.Errorf("relatedResource[%d]: %w", i, err))
			continue
		}
		res.Outcome = RelatedVerified
	}
	return results, errors.Join(errs...)
}

// fetchRelated GETs a related resource through the guarded client,
// asking for (and insisting on) its media type when the credential
// names one. Only https is fetched (plain http to loopback only with a
// client made with FetchOptions.LoopbackHTTP, as for every fetch).
func fetchRelated(ctx context.Context, client *http.Client, rawURL, mediaType string, max int) ([]byte, error) {
	if !schemeAllowed(client, rawURL) {
		return nil, fmt.Errorf("%w: only https URLs are fetched", ErrResolve)
	}
	client, err := fetchClient(client)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrResolve, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrResolve, err)
	}
	want := ""
	if mediaType != "" {
		want, _, _ = mime.ParseMediaType(mediaType)
		req.Header.Set("Accept", mediaType)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrResolve, truncate(rawURL), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: %s: HTTP %d", ErrResolve, truncate(rawURL), resp.StatusCode)
	}
	// VC 2.0 §5.3: reject a response whose Content-Type differs from the
	// listed mediaType.
	if ct := resp.Header.Get("Content-Type"); want != "" && ct != "" {
		if got, _, err := mime.ParseMediaType(ct); err != nil || got != want {
			return nil, fmt.Errorf("%w: %s: content type is not the listed mediaType", ErrResolve, truncate(rawURL))
		}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(max)+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrResolve, truncate(rawURL), err)
	}
	if len(body) > max {
		return nil, fmt.Errorf("%w: %s: over %d bytes", ErrResolve, truncate(rawURL), max)
	}
	return body, nil
}

// DigestAlg is a hash algorithm a related resource digest may use.
type DigestAlg struct {
	Name string // SRI token or multicodec name
	Size int
	sum  func([]byte) []byte
	rank int // SRI strength: higher is stronger
}

var (
	algSHA256   = &DigestAlg{"sha256", 32, func(b []byte) []byte { s := sha256.Sum256(b); return s[:] }, 1}
	algSHA384   = &DigestAlg{"sha384", 48, func(b []byte) []byte { s := sha512.Sum384(b); return s[:] }, 2}
	algSHA512   = &DigestAlg{"sha512", 64, func(b []byte) []byte { s := sha512.Sum512(b); return s[:] }, 3}
	algSHA3_256 = &DigestAlg{"sha3-256", 32, func(b []byte) []byte { s := sha3.Sum256(b); return s[:] }, 0}
	algSHA3_384 = &DigestAlg{"sha3-384", 48, func(b []byte) []byte { s := sha3.Sum384(b); return s[:] }, 0}
	algSHA3_512 = &DigestAlg{"sha3-512", 64, func(b []byte) []byte { s := sha3.Sum512(b); return s[:] }, 0}
	algSM3      = &DigestAlg{"sm3-256", 32, func(b []byte) []byte { s := gm.SM3(b); return s[:] }, 0}
)

// sriAlgs are the SRI hash algorithms (CSP hash-algorithm: sha256,
// sha384, sha512).
var sriAlgs = map[string]*DigestAlg{"sha256": algSHA256, "sha384": algSHA384, "sha512": algSHA512}

// Multihash codes from the multicodec table
// (github.com/multiformats/multicodec, table.csv).
const (
	MultihashSHA2_256 = 0x12
	MultihashSHA2_512 = 0x13
	MultihashSHA3_512 = 0x14
	MultihashSHA3_384 = 0x15
	MultihashSHA3_256 = 0x16
	MultihashSHA2_384 = 0x20
	MultihashSM3_256  = 0x534d // "sm3-256", draft in the table
)

var multihashAlgs = map[uint64]*DigestAlg{
	MultihashSHA2_256: algSHA256, MultihashSHA2_384: algSHA384, MultihashSHA2_512: algSHA512,
	MultihashSHA3_256: algSHA3_256, MultihashSHA3_384: algSHA3_384, MultihashSHA3_512: algSHA3_512,
	MultihashSM3_256: algSM3,
}

// Digest is one expected digest of a resource.
type Digest struct {
	Alg   *DigestAlg
	Value []byte
}

// RelatedDigests are the parsed digests of one related resource: the SRI
// digests of the strongest algorithm present (any one must match) and
// the multibase digests with a supported multihash (each must match).
type RelatedDigests struct {
	SRI       []Digest
	Multibase []Digest
}

// ParseRelatedDigests parses a digestSRI (empty: absent) and the
// digestMultibase values (nil: absent). Unknown algorithms are skipped;
// if what is present leaves nothing usable the error is
// ErrDigestUnsupported; a malformed digest is ErrDigestMalformed.
func ParseRelatedDigests(sri string, multibase []string) (*RelatedDigests, error) {
	var d RelatedDigests
	var err error
	if sri != "" {
		if d.SRI, err = ParseSRI(sri); err != nil {
			return nil, err
		}
	}
	for _, mb := range multibase {
		dg, err := ParseMultibaseDigest(mb)
		if errors.Is(err, ErrDigestUnsupported) {
			continue
		}
		if err != nil {
			return nil, err
		}
		d.Multibase = append(d.Multibase, dg)
	}
	if len(multibase) > 0 && len(d.Multibase) == 0 {
		return nil, fmt.Errorf("%w: digestMultibase", ErrDigestUnsupported)
	}
	if sri == "" && len(multibase) == 0 {
		return nil, fmt.Errorf("%w: no digest", ErrDigestMalformed)
	}
	return &d, nil
}

// Match checks data against the digests: one of the SRI digests (when
// there are any) and every multibase digest.
func (d *RelatedDigests) Match(data []byte) error {
	if len(d.SRI) > 0 {
		sum := d.SRI[0].Alg.sum(data)
		ok := false
		for _, e := range d.SRI {
			ok = ok || bytes.Equal(sum, e.Value)
		}
		if !ok {
			return fmt.Errorf("%w: digestSRI (%s)", ErrRelatedMismatch, d.SRI[0].Alg.Name)
		}
	}
	for _, e := range d.Multibase {
		if !bytes.Equal(e.Alg.sum(data), e.Value) {
			return fmt.Errorf("%w: digestMultibase (%s)", ErrRelatedMismatch, e.Alg.Name)
		}
	}
	return nil
}

// ParseSRI parses SRI metadata (W3C Subresource Integrity §3.5, the
// integrity attribute): hash expressions "alg-value[?options]" separated
// by ASCII whitespace. It returns the digests of the strongest algorithm
// present (sha512 > sha384 > sha256), the only ones that count.
// Expressions that do not name a supported algorithm are ignored, as SRI
// says; if none does, the error is ErrDigestUnsupported. Unlike a
// browser, which ignores an expression it cannot parse, a supported
// algorithm with a value that is not base64 (or base64url) of a digest
// of its size is ErrDigestMalformed: an issuer's digest must not be
// silently dropped in favour of a weaker one.
func ParseSRI(s string) ([]Digest, error) {
	if len(s) > maxDigestLen {
		return nil, fmt.Errorf("%w: digestSRI over %d bytes", ErrDigestMalformed, maxDigestLen)
	}
	var best []Digest
	for _, expr := range strings.FieldsFunc(s, isASCIISpace) {
		alg, value, ok := strings.Cut(expr, "-")
		if !ok {
			continue // not a hash-expression: ignored
		}
		a := sriAlgs[strings.ToLower(alg)]
		if a == nil {
			continue // unknown algorithm: ignored
		}
		value, _, _ = strings.Cut(value, "?") // options are ignored
		raw, err := decodeSRIBase64(value)
		if err != nil || len(raw) != a.Size {
			return nil, fmt.Errorf("%w: digestSRI: a %s value is not base64 of %d bytes", ErrDigestMalformed, a.Name, a.Size)
		}
		switch {
		case len(best) == 0 || a.rank > best[0].Alg.rank:
			best = []Digest{{a, raw}}
		case a.rank == best[0].Alg.rank:
			best = append(best, Digest{a, raw})
		}
	}
	if len(best) == 0 {
		return nil, fmt.Errorf("%w: digestSRI names no sha256, sha384 or sha512 digest", ErrDigestUnsupported)
	}
	return best, nil
}

func isASCIISpace(r rune) bool {
	return r == ' ' || r == '\t' || r == '\n' || r == '\f' || r == '\r'
}

// decodeSRIBase64 decodes an SRI base64-value: base64 or base64url
// (CSP3), with at most two '=' of padding.
func decodeSRIBase64(v string) ([]byte, error) {
	v = strings.TrimSuffix(strings.TrimSuffix(v, "="), "=")
	if strings.ContainsAny(v, "+/") && strings.ContainsAny(v, "-_") {
		return nil, errors.New("mixed base64 alphabets")
	}
	v = strings.NewReplacer("-", "+", "_", "/").Replace(v)
	return base64.RawStdEncoding.Strict().DecodeString(v)
}

// ParseMultibaseDigest parses one digestMultibase: multibase base58btc
// ('z') or base64url without padding ('u') of a multihash (varint code,
// varint length, digest). A code TrustID does not compute is
// ErrDigestUnsupported; anything else wrong is ErrDigestMalformed.
func ParseMultibaseDigest(s string) (Digest, error) {
	if len(s) > maxDigestLen {
		return Digest{}, fmt.Errorf("%w: digestMultibase over %d bytes", ErrDigestMalformed, maxDigestLen)
	}
	if s == "" {
		return Digest{}, fmt.Errorf("%w: empty digestMultibase", ErrDigestMalformed)
	}
	var raw []byte
	var err error
	switch s[0] {
	case 'z':
		raw, err = multikey.Base58Decode(s[1:])
	case 'u':
		raw, err = b64url.DecodeString(s[1:])
	default:
		return Digest{}, fmt.Errorf("%w: digestMultibase: multibase prefix is not 'z' (base58btc) or 'u' (base64url)", ErrDigestMalformed)
	}
	if err != nil {
		return Digest{}, fmt.Errorf("%w: digestMultibase: bad %c encoding", ErrDigestMalformed, s[0])
	}
	code, n := multikey.Uvarint(raw) // minimal encoding, at most 9 bytes
	if n <= 0 {
		return Digest{}, fmt.Errorf("%w: digestMultibase: bad multihash code", ErrDigestMalformed)
	}
	size, m := multikey.Uvarint(raw[n:])
	if m <= 0 || size != uint64(len(raw)-n-m) {
		return Digest{}, fmt.Errorf("%w: digestMultibase: multihash length does not match its digest", ErrDigestMalformed)
	}
	a := multihashAlgs[code]
	if a == nil {
		return Digest{}, fmt.Errorf("%w: multihash code 0x%x", ErrDigestUnsupported, code)
	}
	if int(size) != a.Size {
		return Digest{}, fmt.Errorf("%w: digestMultibase: a %s digest of %d bytes", ErrDigestMalformed, a.Name, size)
	}
	return Digest{Alg: a, Value: raw[n+m:]}, nil
}

// MultibaseDigest returns the digestMultibase of data for a multihash
// code this package supports, in base64url ('u'): what an issuer puts in
// a relatedResource.
func MultibaseDigest(code uint64, data []byte) (string, error) {
	a := multihashAlgs[code]
	if a == nil {
		return "", fmt.Errorf("%w: multihash code 0x%x", ErrDigestUnsupported, code)
	}
	b := multikey.AppendUvarint(multikey.AppendUvarint(nil, code), uint64(a.Size))
	return "u" + base64.RawURLEncoding.EncodeToString(append(b, a.sum(data)...)), nil
}

// SRIDigest returns the digestSRI hash expression of data for alg
// ("sha256", "sha384" or "sha512").
func SRIDigest(alg string, data []byte) (string, error) {
	a := sriAlgs[alg]
	if a == nil {
		return "", fmt.Errorf("%w: SRI algorithm %q", ErrDigestUnsupported, truncate(alg))
	}
	return alg + "-" + base64.StdEncoding.EncodeToString(a.sum(data)), nil
}
