package credentials

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"slices"
	"strings"

	"github.com/emmansun/gmsm/sm2"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/strictjson"
)

// DID document contexts and the verification method type TrustID writes.
const (
	ContextDID          = "https://www.w3.org/ns/did/v1"
	ContextCID          = "https://www.w3.org/ns/cid/v1"
	TypeJsonWebKey      = "JsonWebKey"
	maxDIDDocument      = 256 << 10
	maxDIDLength        = 4096
	multicodecEd25519   = 0xed
	multicodecP256      = 0x1200
	multicodecSM2       = 0x1206 // sm2-pub, "draft" in the multicodec table
	didKeyPrefix        = "did:key:"
	didJWKPrefix        = "did:jwk:"
	didWebPrefix        = "did:web:"
	wellKnownDIDPath    = "/.well-known/did.json"
	wellKnownJWTVCIssue = "/.well-known/jwt-vc-issuer"
)

// DIDWeb returns the did:web identifier of an HTTPS (or, for development,
// HTTP) base URL: the host, with a port's ':' percent-encoded as %3A, then
// each path segment after ':'.
func DIDWeb(baseURL string) (string, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("%w: issuer base URL %q must be http(s)://host[:port][/path]", ErrInvalid, baseURL)
	}
	did := didWebPrefix + strings.ReplaceAll(strings.ToLower(u.Host), ":", "%3A")
	for _, seg := range strings.Split(strings.Trim(u.EscapedPath(), "/"), "/") {
		if seg != "" {
			did += ":" + seg
		}
	}
	return did, nil
}

// DIDWebDocumentURL returns where a did:web document lives: https://host
// /.well-known/did.json, or https://host/path/did.json with a path.
func DIDWebDocumentURL(did string) (string, error) {
	rest, ok := strings.CutPrefix(did, didWebPrefix)
	if !ok || rest == "" || strings.ContainsAny(rest, "/?#") {
		return "", fmt.Errorf("%w: %q is not a did:web identifier", ErrResolve, did)
	}
	parts := strings.Split(rest, ":")
	host, err := url.PathUnescape(parts[0])
	if err != nil || host == "" || strings.ContainsAny(host, "@/") {
		return "", fmt.Errorf("%w: did:web host", ErrResolve)
	}
	if len(parts) == 1 {
		return "https://" + host + wellKnownDIDPath, nil
	}
	for _, p := range parts[1:] {
		if p == "" || p == "." || p == ".." {
			return "", fmt.Errorf("%w: did:web path", ErrResolve)
		}
	}
	return "https://" + host + "/" + strings.Join(parts[1:], "/") + "/did.json", nil
}

// DIDDocument is the subset of a DID document TrustID writes and reads.
type DIDDocument struct {
	Context            []string             `json:"@context"`
	ID                 string               `json:"id"`
	VerificationMethod []VerificationMethod `json:"verificationMethod"`
	AssertionMethod    []string             `json:"assertionMethod,omitempty"`
	Authentication     []string             `json:"authentication,omitempty"`
}

// VerificationMethod is a JsonWebKey verification method.
type VerificationMethod struct {
	ID           string `json:"id"`
	Type         string `json:"type"`
	Controller   string `json:"controller"`
	PublicKeyJwk gm.JWK `json:"publicKeyJwk"`
}

// NewDIDDocument lists jwks (the published keys: active and retiring)
// under did: one JsonWebKey method per key, "#<kid>", each listed in
// assertionMethod (it signs credentials) and authentication.
func NewDIDDocument(did string, jwks []gm.JWK) DIDDocument {
	doc := DIDDocument{Context: []string{ContextDID, ContextCID}, ID: did}
	for _, j := range jwks {
		id := did + "#" + j.Kid
		doc.VerificationMethod = append(doc.VerificationMethod, VerificationMethod{ID: id, Type: TypeJsonWebKey, Controller: did, PublicKeyJwk: j})
		doc.AssertionMethod = append(doc.AssertionMethod, id)
		doc.Authentication = append(doc.Authentication, id)
	}
	return doc
}

// ParseDIDDocument decodes a DID document strictly and checks that it is
// the document of did.
func ParseDIDDocument(data []byte, did string) (DIDDocument, error) {
	var raw map[string]json.RawMessage
	if err := strictjson.Decode(data, &raw, maxDIDDocument); err != nil {
		return DIDDocument{}, fmt.Errorf("%w: DID document: %w", ErrResolve, err)
	}
	var doc DIDDocument
	var id string
	if err := json.Unmarshal(raw["id"], &id); err != nil || id != did {
		return DIDDocument{}, fmt.Errorf("%w: DID document id does not match %s", ErrResolve, did)
	}
	doc.ID = id
	if v, ok := raw["verificationMethod"]; ok {
		var vms []map[string]json.RawMessage
		if err := json.Unmarshal(v, &vms); err != nil {
			return DIDDocument{}, fmt.Errorf("%w: verificationMethod: %v", ErrResolve, err)
		}
		for _, m := range vms {
			var vm VerificationMethod
			json.Unmarshal(m["id"], &vm.ID)
			json.Unmarshal(m["type"], &vm.Type)
			json.Unmarshal(m["controller"], &vm.Controller)
			if j, ok := m["publicKeyJwk"]; ok {
				var jm map[string]any
				if json.Unmarshal(j, &jm) == nil {
					if _, priv := jm["d"]; priv {
						return DIDDocument{}, fmt.Errorf("%w: a verification method holds a private key", ErrResolve)
					}
				}
				if err := json.Unmarshal(j, &vm.PublicKeyJwk); err != nil {
					return DIDDocument{}, fmt.Errorf("%w: publicKeyJwk: %v", ErrResolve, err)
				}
			}
			if strings.HasPrefix(vm.ID, "#") {
				vm.ID = did + vm.ID
			}
			doc.VerificationMethod = append(doc.VerificationMethod, vm)
		}
	}
	if v, ok := raw["assertionMethod"]; ok {
		// Items are references (strings) or embedded methods.
		var items []json.RawMessage
		if err := json.Unmarshal(v, &items); err != nil {
			return DIDDocument{}, fmt.Errorf("%w: assertionMethod: %v", ErrResolve, err)
		}
		for _, it := range items {
			var ref string
			if json.Unmarshal(it, &ref) == nil {
				if strings.HasPrefix(ref, "#") {
					ref = did + ref
				}
				doc.AssertionMethod = append(doc.AssertionMethod, ref)
				continue
			}
			var vm VerificationMethod
			if err := json.Unmarshal(it, &vm); err != nil {
				return DIDDocument{}, fmt.Errorf("%w: assertionMethod item: %v", ErrResolve, err)
			}
			if strings.HasPrefix(vm.ID, "#") {
				vm.ID = did + vm.ID
			}
			doc.VerificationMethod = append(doc.VerificationMethod, vm)
			doc.AssertionMethod = append(doc.AssertionMethod, vm.ID)
		}
	}
	return doc, nil
}

// AssertionKey returns the public key of the verification method id (a
// full DID URL), which must be listed in assertionMethod.
func (d DIDDocument) AssertionKey(id string) (crypto.PublicKey, error) {
	if !slices.Contains(d.AssertionMethod, id) {
		return nil, fmt.Errorf("%w: %s is not an assertion method of %s", ErrUnknownKey, id, d.ID)
	}
	for _, vm := range d.VerificationMethod {
		if vm.ID != id {
			continue
		}
		if vm.Controller != "" && vm.Controller != d.ID {
			return nil, fmt.Errorf("%w: %s is controlled by another DID", ErrUnknownKey, id)
		}
		pub, err := vm.PublicKeyJwk.PublicKey()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrResolve, err)
		}
		return pub, nil
	}
	return nil, fmt.Errorf("%w: no verification method %s", ErrUnknownKey, id)
}

// --- did:key ---

// DIDKey returns the did:key identifier of pub: multibase base58btc of the
// multicodec-prefixed key (ed25519-pub 0xed; p256-pub 0x1200 and sm2-pub
// 0x1206 with the compressed point).
func DIDKey(pub crypto.PublicKey) (string, error) {
	alg, err := gm.Alg(pub)
	if err != nil {
		return "", err
	}
	var code uint64
	var raw []byte
	switch alg {
	case gm.AlgEdDSA:
		code, raw = multicodecEd25519, pub.(ed25519.PublicKey)
	case gm.AlgES256:
		p := pub.(*ecdsa.PublicKey)
		code, raw = multicodecP256, elliptic.MarshalCompressed(p.Curve, p.X, p.Y)
	case gm.AlgSM2:
		p, _ := gm.NormalizePublicKey(pub)
		e := p.(*gm.PublicKey).ECDSA()
		code, raw = multicodecSM2, elliptic.MarshalCompressed(e.Curve, e.X, e.Y)
	}
	b := appendUvarint(nil, code)
	return didKeyPrefix + "z" + base58Encode(append(b, raw...)), nil
}

// parseDIDKey decodes a did:key identifier (without fragment).
func parseDIDKey(did string) (crypto.PublicKey, error) {
	mb, ok := strings.CutPrefix(did, didKeyPrefix)
	if !ok || len(mb) < 2 || mb[0] != 'z' || len(mb) > 200 {
		return nil, fmt.Errorf("%w: did:key must be multibase base58btc ('z')", ErrResolve)
	}
	b, err := base58Decode(mb[1:])
	if err != nil {
		return nil, fmt.Errorf("%w: did:key: %v", ErrResolve, err)
	}
	code, n := uvarint(b)
	if n <= 0 {
		return nil, fmt.Errorf("%w: did:key multicodec", ErrResolve)
	}
	raw := b[n:]
	switch code {
	case multicodecEd25519:
		if len(raw) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%w: Ed25519 did:key must hold 32 bytes", ErrResolve)
		}
		return ed25519.PublicKey(raw), nil
	case multicodecP256, multicodecSM2:
		curve := elliptic.P256()
		if code == multicodecSM2 {
			curve = sm2.P256()
		}
		if len(raw) != 33 {
			return nil, fmt.Errorf("%w: did:key EC keys must be 33-byte compressed points", ErrResolve)
		}
		x, y := decompress(curve, raw)
		if x == nil {
			return nil, fmt.Errorf("%w: did:key point is not on the curve", ErrResolve)
		}
		return gm.NormalizePublicKey(&ecdsa.PublicKey{Curve: curve, X: x, Y: y})
	}
	return nil, fmt.Errorf("%w: did:key multicodec 0x%x", ErrUnsupported, code)
}

// decompress decodes a SEC 1 compressed point on a short Weierstrass
// curve with a = -3 (P-256 and the SM2 curve both are).
func decompress(curve elliptic.Curve, b []byte) (x, y *big.Int) {
	if b[0] != 2 && b[0] != 3 {
		return nil, nil
	}
	p := curve.Params().P
	x = new(big.Int).SetBytes(b[1:])
	if x.Cmp(p) >= 0 {
		return nil, nil
	}
	// y² = x³ - 3x + b
	y2 := new(big.Int).Mul(x, x)
	y2.Mul(y2, x)
	threeX := new(big.Int).Lsh(x, 1)
	threeX.Add(threeX, x)
	y2.Sub(y2, threeX)
	y2.Add(y2, curve.Params().B)
	y2.Mod(y2, p)
	y = new(big.Int).ModSqrt(y2, p)
	if y == nil {
		return nil, nil
	}
	if y.Bit(0) != uint(b[0]&1) {
		y.Sub(p, y)
	}
	if !curve.IsOnCurve(x, y) {
		return nil, nil
	}
	return x, y
}

func appendUvarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func uvarint(b []byte) (uint64, int) {
	var v uint64
	for i := 0; i < len(b) && i < 9; i++ {
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i] < 0x80 {
			if i > 0 && b[i] == 0 {
				return 0, -1 // not minimal
			}
			return v, i + 1
		}
	}
	return 0, -1
}

const base58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

func base58Encode(b []byte) string {
	zeros := 0
	for zeros < len(b) && b[zeros] == 0 {
		zeros++
	}
	digits := []byte{}
	for _, c := range b[zeros:] {
		carry := int(c)
		for i := range digits {
			carry += int(digits[i]) << 8
			digits[i] = byte(carry % 58)
			carry /= 58
		}
		for carry > 0 {
			digits = append(digits, byte(carry%58))
			carry /= 58
		}
	}
	out := make([]byte, zeros, zeros+len(digits))
	for i := range out {
		out[i] = '1'
	}
	for i := len(digits) - 1; i >= 0; i-- {
		out = append(out, base58Alphabet[digits[i]])
	}
	return string(out)
}

func base58Decode(s string) ([]byte, error) {
	zeros := 0
	for zeros < len(s) && s[zeros] == '1' {
		zeros++
	}
	bytesLE := []byte{}
	for i := zeros; i < len(s); i++ {
		d := strings.IndexByte(base58Alphabet, s[i])
		if d < 0 {
			return nil, errors.New("invalid base58 character")
		}
		carry := d
		for j := range bytesLE {
			carry += int(bytesLE[j]) * 58
			bytesLE[j] = byte(carry)
			carry >>= 8
		}
		for carry > 0 {
			bytesLE = append(bytesLE, byte(carry))
			carry >>= 8
		}
	}
	out := make([]byte, zeros, zeros+len(bytesLE))
	for i := len(bytesLE) - 1; i >= 0; i-- {
		out = append(out, bytesLE[i])
	}
	return out, nil
}

// --- did:jwk ---

// DIDJWK returns the did:jwk identifier of pub: base64url of its JWK.
func DIDJWK(pub crypto.PublicKey) (string, error) {
	j, err := gm.NewJWK(pub, "")
	if err != nil {
		return "", err
	}
	j.Use, j.Alg = "", ""
	b, err := json.Marshal(j)
	if err != nil {
		return "", err
	}
	return didJWKPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

func parseDIDJWK(did string) (crypto.PublicKey, error) {
	enc, ok := strings.CutPrefix(did, didJWKPrefix)
	if !ok || len(enc) > 2048 {
		return nil, fmt.Errorf("%w: not a did:jwk", ErrResolve)
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(enc)
	if err != nil {
		return nil, fmt.Errorf("%w: did:jwk is not base64url", ErrResolve)
	}
	var m map[string]any
	if err := strictjson.Decode(raw, &m, 4096); err != nil || m == nil {
		return nil, fmt.Errorf("%w: did:jwk JSON: %v", ErrResolve, err)
	}
	if _, priv := m["d"]; priv {
		return nil, fmt.Errorf("%w: did:jwk holds a private key", ErrResolve)
	}
	var j gm.JWK
	if err := json.Unmarshal(raw, &j); err != nil {
		return nil, fmt.Errorf("%w: did:jwk: %v", ErrResolve, err)
	}
	pub, err := j.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("%w: did:jwk: %v", ErrResolve, err)
	}
	return pub, nil
}

// splitDIDURL splits "did:...#frag" into the DID and fragment.
func splitDIDURL(s string) (did, frag string, err error) {
	if len(s) > maxDIDLength || !strings.HasPrefix(s, "did:") {
		return "", "", fmt.Errorf("%w: %q is not a DID URL", ErrResolve, truncate(s))
	}
	did, frag, _ = strings.Cut(s, "#")
	if strings.ContainsAny(did, "?/") {
		return "", "", fmt.Errorf("%w: DID URL paths and queries are not supported", ErrUnsupported)
	}
	return did, frag, nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
