package credentials

import (
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/trustid-cn/trustid/credentials/multikey"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/strictjson"
)

// DID document contexts and the verification method types (W3C
// Controlled Identifiers 1.0 §2.2): TrustID writes JsonWebKey and reads
// both.
const (
	ContextDID          = "https://www.w3.org/ns/did/v1"
	ContextCID          = "https://www.w3.org/ns/cid/v1"
	TypeJsonWebKey      = "JsonWebKey"
	TypeMultikey        = "Multikey"
	maxDIDDocument      = 256 << 10
	maxDIDLength        = 4096
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

// VerificationMethod is a JsonWebKey (publicKeyJwk) or Multikey
// (publicKeyMultibase) verification method.
type VerificationMethod struct {
	ID                 string `json:"id"`
	Type               string `json:"type"`
	Controller         string `json:"controller"`
	PublicKeyJwk       gm.JWK `json:"publicKeyJwk,omitzero"`
	PublicKeyMultibase string `json:"publicKeyMultibase,omitempty"`
}

// publicKey returns the method's key: a Multikey's publicKeyMultibase,
// else its publicKeyJwk.
func (vm VerificationMethod) publicKey() (crypto.PublicKey, error) {
	switch vm.Type {
	case TypeMultikey:
		if vm.PublicKeyMultibase == "" || vm.PublicKeyJwk != (gm.JWK{}) {
			return nil, fmt.Errorf("%w: a Multikey method carries its key as publicKeyMultibase alone", ErrResolve)
		}
		pub, err := multikey.Decode(vm.PublicKeyMultibase)
		if errors.Is(err, multikey.ErrUnsupported) {
			return nil, fmt.Errorf("%w: %w", ErrUnsupported, err)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: publicKeyMultibase: %w", ErrResolve, err)
		}
		return pub, nil
	}
	// JsonWebKey, and the older types that carry a publicKeyJwk too.
	if vm.PublicKeyMultibase != "" {
		return nil, fmt.Errorf("%w: publicKeyMultibase outside a Multikey method", ErrResolve)
	}
	pub, err := vm.PublicKeyJwk.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrResolve, err)
	}
	return pub, nil
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
			if _, priv := m["secretKeyMultibase"]; priv {
				return DIDDocument{}, fmt.Errorf("%w: a verification method holds a private key", ErrResolve)
			}
			json.Unmarshal(m["publicKeyMultibase"], &vm.PublicKeyMultibase)
			if strings.HasPrefix(vm.ID, "#") {
				vm.ID = did + vm.ID
			}
			doc.VerificationMethod = append(doc.VerificationMethod, vm)
		}
	}
	for _, rel := range []struct {
		name string
		ids  *[]string
	}{{RelationshipAssertion, &doc.AssertionMethod}, {RelationshipAuthentication, &doc.Authentication}} {
		v, ok := raw[rel.name]
		if !ok {
			continue
		}
		// Items are references (strings) or embedded methods.
		var items []json.RawMessage
		if err := json.Unmarshal(v, &items); err != nil {
			return DIDDocument{}, fmt.Errorf("%w: %s: %v", ErrResolve, rel.name, err)
		}
		for _, it := range items {
			var ref string
			if json.Unmarshal(it, &ref) == nil {
				if strings.HasPrefix(ref, "#") {
					ref = did + ref
				}
				*rel.ids = append(*rel.ids, ref)
				continue
			}
			var vm VerificationMethod
			if err := json.Unmarshal(it, &vm); err != nil {
				return DIDDocument{}, fmt.Errorf("%w: %s item: %v", ErrResolve, rel.name, err)
			}
			if strings.HasPrefix(vm.ID, "#") {
				vm.ID = did + vm.ID
			}
			doc.VerificationMethod = append(doc.VerificationMethod, vm)
			*rel.ids = append(*rel.ids, vm.ID)
		}
	}
	return doc, nil
}

// Verification relationships (W3C Controlled Identifiers 1.0) a key is
// resolved for: credentials are signed with assertionMethod keys,
// presentations with authentication keys.
const (
	RelationshipAssertion      = "assertionMethod"
	RelationshipAuthentication = "authentication"
)

// AssertionKey returns the public key of the verification method id (a
// full DID URL), which must be listed in assertionMethod.
func (d DIDDocument) AssertionKey(id string) (crypto.PublicKey, error) {
	return d.Key(id, RelationshipAssertion)
}

// Key returns the public key of the verification method id (a full DID
// URL), which must be listed in relationship (RelationshipAssertion or
// RelationshipAuthentication).
func (d DIDDocument) Key(id, relationship string) (crypto.PublicKey, error) {
	listed := d.AssertionMethod
	if relationship == RelationshipAuthentication {
		listed = d.Authentication
	} else if relationship != RelationshipAssertion {
		return nil, fmt.Errorf("%w: verification relationship %.40q", ErrUnsupported, relationship)
	}
	if !slices.Contains(listed, id) {
		return nil, fmt.Errorf("%w: %s is not listed in %s of %s", ErrUnknownKey, id, relationship, d.ID)
	}
	for _, vm := range d.VerificationMethod {
		if vm.ID != id {
			continue
		}
		if vm.Controller != "" && vm.Controller != d.ID {
			return nil, fmt.Errorf("%w: %s is controlled by another DID", ErrUnknownKey, id)
		}
		return vm.publicKey()
	}
	return nil, fmt.Errorf("%w: no verification method %s", ErrUnknownKey, id)
}

// --- did:key ---

// DIDKey returns the did:key identifier of pub: its Multikey
// (multikey.Encode: ed25519-pub 0xed, p256-pub 0x1200, p384-pub 0x1201,
// sm2-pub 0x1206, EC keys as compressed points).
func DIDKey(pub crypto.PublicKey) (string, error) {
	mk, err := multikey.Encode(pub)
	if err != nil {
		return "", fmt.Errorf("%w: did:key: %w", ErrUnsupported, err)
	}
	return didKeyPrefix + mk, nil
}

// parseDIDKey decodes a did:key identifier (without fragment).
func parseDIDKey(did string) (crypto.PublicKey, error) {
	mb, ok := strings.CutPrefix(did, didKeyPrefix)
	if !ok {
		return nil, fmt.Errorf("%w: not a did:key", ErrResolve)
	}
	pub, err := multikey.Decode(mb)
	if errors.Is(err, multikey.ErrUnsupported) {
		return nil, fmt.Errorf("%w: did:key: %w", ErrUnsupported, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: did:key: %w", ErrResolve, err)
	}
	return pub, nil
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
