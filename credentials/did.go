package credentials

import (
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/trustid-cn/trustid/credentials/multikey"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/b64url"
	"github.com/trustid-cn/trustid/internal/strictjson"
	"github.com/trustid-cn/trustid/internal/xsdtime"
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
	if !ok || rest == "" || strings.IndexFunc(rest, notIDChar) >= 0 {
		return "", fmt.Errorf("%w: %q is not a did:web identifier", ErrResolve, did)
	}
	parts := strings.Split(rest, ":")
	// The port's colon is the host's only percent-encoding (did:web); any
	// other would give a second DID for the same document URL.
	host := strings.ReplaceAll(strings.ReplaceAll(parts[0], "%3A", ":"), "%3a", ":")
	if strings.Contains(host, "%") || !webHost(host) {
		return "", fmt.Errorf("%w: did:web host", ErrResolve)
	}
	if len(parts) == 1 {
		return "https://" + host + wellKnownDIDPath, nil
	}
	for _, p := range parts[1:] {
		// A segment that decodes to a dot segment, or holds an encoded
		// slash or backslash, would name another path on a server that
		// decodes and normalizes it (alice:%2E%2E:mallory is mallory's).
		seg, err := url.PathUnescape(p)
		if err != nil || seg == "" || seg == "." || seg == ".." || strings.ContainsAny(seg, `/\`) {
			return "", fmt.Errorf("%w: did:web path", ErrResolve)
		}
	}
	return "https://" + host + "/" + strings.Join(parts[1:], "/") + "/did.json", nil
}

// notIDChar reports whether r is neither an idchar of DID syntax (DID
// Core §3.1: ALPHA, DIGIT, ".", "-", "_"; "%" for a pct-encoded octet,
// which url.PathUnescape then checks) nor the ":" between its segments.
func notIDChar(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(".-_%:", r))
}

// webHost reports whether host (the decoded domain-name of a did:web) is
// a host name and an optional port and nothing else (DID Method did:web:
// a domain name, with a port's colon percent-encoded): letters, digits,
// '.', '-' and '_', then ":" and 1 to 65535. Any other character (an
// encoded '?', '#', '\', '@', '/', '%', a space) would make the document
// URL another resource.
func webHost(host string) bool {
	name, port, hasPort := strings.Cut(host, ":")
	if name == "" || strings.IndexFunc(name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_')
	}) >= 0 {
		return false
	}
	if !hasPort {
		return true
	}
	n, err := strconv.Atoi(port)
	return err == nil && n >= 1 && n <= 65535 && strconv.Itoa(n) == port
}

// DIDDocument is the subset of a controlled identifier document (W3C
// Controlled Identifiers 1.0) TrustID writes and reads: a DID document, or
// the document an https verification method URL names.
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
	// Expires and Revoked (XML Schema dateTimeStamps) end the method's use;
	// "" when absent.
	Expires string `json:"expires,omitempty"`
	Revoked string `json:"revoked,omitempty"`
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
		return nil, fmt.Errorf("%w: %w", ErrResolve, err) // gm.ErrJWKUse: a key for encryption
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

// ParseControllerDocument decodes a controlled identifier document (W3C
// Controlled Identifiers 1.0; a DID document is one) strictly and checks
// that it is the document of id (a DID, or the https URL it was fetched
// from). Relative method ids and references ("#key-1") are made absolute
// against id. Errors wrap ErrResolve, and ErrControllerDocument or
// ErrControllerDocumentID.
func ParseControllerDocument(data []byte, id string) (DIDDocument, error) {
	var raw map[string]json.RawMessage
	if err := strictjson.Decode(data, &raw, maxDIDDocument); err != nil || raw == nil {
		return DIDDocument{}, fmt.Errorf("%w: %w: %v", ErrResolve, ErrControllerDocument, err)
	}
	var docID string
	if err := json.Unmarshal(raw["id"], &docID); err != nil || docID != id {
		return DIDDocument{}, fmt.Errorf("%w: %w: not the document of %s", ErrResolve, ErrControllerDocumentID, truncate(id))
	}
	doc := DIDDocument{ID: id}
	if v, ok := raw["verificationMethod"]; ok {
		var vms []json.RawMessage
		if err := json.Unmarshal(v, &vms); err != nil {
			return DIDDocument{}, fmt.Errorf("%w: %w: verificationMethod: %v", ErrResolve, ErrControllerDocument, err)
		}
		for _, m := range vms {
			vm, err := parseMethod(m, id)
			if err != nil {
				return DIDDocument{}, err
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
			return DIDDocument{}, fmt.Errorf("%w: %w: %s: %v", ErrResolve, ErrControllerDocument, rel.name, err)
		}
		for _, it := range items {
			var ref string
			if json.Unmarshal(it, &ref) == nil {
				*rel.ids = append(*rel.ids, absoluteRef(ref, id))
				continue
			}
			vm, err := parseMethod(it, id)
			if err != nil {
				return DIDDocument{}, err
			}
			doc.VerificationMethod = append(doc.VerificationMethod, vm)
			*rel.ids = append(*rel.ids, vm.ID)
		}
	}
	if err := uniqueMethodIDs(raw, doc.VerificationMethod, id); err != nil {
		return DIDDocument{}, err
	}
	return doc, nil
}

// uniqueMethodIDs refuses a document that defines a verification method
// id twice with different content (verificationMethod is a set, W3C
// Controlled Identifiers 1.0 §2.2): in verificationMethod, or embedded in
// a verification relationship, those TrustID does not read
// (keyAgreement, capabilityInvocation, capabilityDelegation) included.
// Two definitions would make the key an id names depend on where it is
// looked up: the key of one with the relationship of the other. The same
// method embedded in two relationships is one method.
func uniqueMethodIDs(raw map[string]json.RawMessage, methods []VerificationMethod, id string) error {
	seen := make(map[string]VerificationMethod, len(methods))
	add := func(vm VerificationMethod) error {
		if prev, ok := seen[vm.ID]; ok && prev != vm {
			return fmt.Errorf("%w: %w: verification method %s is defined twice", ErrResolve, ErrControllerDocument, truncate(vm.ID))
		}
		seen[vm.ID] = vm
		return nil
	}
	for _, vm := range methods {
		if err := add(vm); err != nil {
			return err
		}
	}
	for _, name := range []string{"keyAgreement", "capabilityInvocation", "capabilityDelegation"} {
		var items []json.RawMessage
		if v, ok := raw[name]; !ok || json.Unmarshal(v, &items) != nil {
			continue
		}
		for _, it := range items {
			var m struct {
				ID string `json:"id"`
			}
			if json.Unmarshal(it, &m) != nil || m.ID == "" { // a reference, or no id
				continue
			}
			vm, err := parseMethod(it, id)
			if err != nil {
				if _, dup := seen[absoluteRef(m.ID, id)]; dup {
					return err
				}
				continue
			}
			if err := add(vm); err != nil {
				return err
			}
		}
	}
	return nil
}

// parseMethod decodes one verification method map of the document id.
func parseMethod(data json.RawMessage, id string) (VerificationMethod, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil || m == nil {
		return VerificationMethod{}, fmt.Errorf("%w: %w: a verification method is not an object", ErrResolve, ErrControllerDocument)
	}
	if _, priv := m["secretKeyMultibase"]; priv {
		return VerificationMethod{}, fmt.Errorf("%w: %w: a verification method holds a private key", ErrResolve, ErrControllerDocument)
	}
	var vm VerificationMethod
	for name, dst := range map[string]*string{"id": &vm.ID, "type": &vm.Type, "controller": &vm.Controller,
		"publicKeyMultibase": &vm.PublicKeyMultibase, "expires": &vm.Expires, "revoked": &vm.Revoked} {
		if v, ok := m[name]; ok {
			if err := json.Unmarshal(v, dst); err != nil {
				return VerificationMethod{}, fmt.Errorf("%w: %w: verification method %s is not a string", ErrResolve, ErrControllerDocument, name)
			}
		}
	}
	for name, t := range map[string]string{"expires": vm.Expires, "revoked": vm.Revoked} {
		if _, err := time.Parse(time.RFC3339, t); t != "" && (err != nil || !xsdtime.IsDateTimeStamp(t)) {
			return VerificationMethod{}, fmt.Errorf("%w: %w: verification method %s is not a dateTimeStamp", ErrResolve, ErrControllerDocument, name)
		}
	}
	if j, ok := m["publicKeyJwk"]; ok {
		var jm map[string]json.RawMessage
		if json.Unmarshal(j, &jm) == nil {
			if _, priv := jm["d"]; priv {
				return VerificationMethod{}, fmt.Errorf("%w: %w: a verification method holds a private key", ErrResolve, ErrControllerDocument)
			}
		}
		if err := json.Unmarshal(j, &vm.PublicKeyJwk); err != nil {
			return VerificationMethod{}, fmt.Errorf("%w: %w: publicKeyJwk: %v", ErrResolve, ErrControllerDocument, err)
		}
	}
	vm.ID = absoluteRef(vm.ID, id)
	return vm, nil
}

// absoluteRef resolves a relative reference "#frag" against the
// document id; any other value is kept as it is.
func absoluteRef(ref, id string) string {
	if strings.HasPrefix(ref, "#") {
		return id + ref
	}
	return ref
}

// Verification relationships (W3C Controlled Identifiers 1.0) a key is
// resolved for: credentials are signed with assertionMethod keys,
// presentations with authentication keys.
const (
	RelationshipAssertion      = "assertionMethod"
	RelationshipAuthentication = "authentication"
)

// AssertionKey returns the public key of the verification method id (a
// full DID URL), which must be listed in assertionMethod and usable at
// now.
func (d DIDDocument) AssertionKey(id string, now time.Time) (crypto.PublicKey, error) {
	return d.Key(id, RelationshipAssertion, now)
}

// Key returns the public key of the verification method id (an absolute
// URL) after the checks of Method, refused when its revoked or expires
// time is at or before now (ErrMethodRevoked).
func (d DIDDocument) Key(id, relationship string, now time.Time) (crypto.PublicKey, error) {
	vm, err := d.Method(id, relationship)
	if err != nil {
		return nil, err
	}
	if err := vm.usableAt(now); err != nil {
		return nil, err
	}
	return vm.publicKey()
}

// Method returns the verification method id (an absolute URL) with the
// checks of W3C Controlled Identifiers 1.0 §3.3, in its order: the
// document defines it (ErrMethodNotFound), it has a type
// (ErrControllerDocument, with ErrResolve), its controller is the
// document's id (ErrMethodController), and it is listed, by reference or
// embedded, in relationship (RelationshipAssertion or
// RelationshipAuthentication; ErrMethodRelationship). Each error wraps
// ErrUnknownKey too.
func (d DIDDocument) Method(id, relationship string) (VerificationMethod, error) {
	listed := d.AssertionMethod
	if relationship == RelationshipAuthentication {
		listed = d.Authentication
	} else if relationship != RelationshipAssertion {
		return VerificationMethod{}, fmt.Errorf("%w: verification relationship %.40q", ErrUnsupported, relationship)
	}
	i := slices.IndexFunc(d.VerificationMethod, func(vm VerificationMethod) bool { return vm.ID == id })
	if i < 0 {
		return VerificationMethod{}, fmt.Errorf("%w: %w: %s", ErrUnknownKey, ErrMethodNotFound, truncate(id))
	}
	vm := d.VerificationMethod[i]
	if vm.Type == "" {
		return VerificationMethod{}, fmt.Errorf("%w: %w: %w: %s has no type", ErrUnknownKey, ErrResolve, ErrControllerDocument, truncate(id))
	}
	if vm.Controller != d.ID {
		return VerificationMethod{}, fmt.Errorf("%w: %w: %s is not controlled by %s", ErrUnknownKey, ErrMethodController, truncate(id), truncate(d.ID))
	}
	if !slices.Contains(listed, id) {
		return VerificationMethod{}, fmt.Errorf("%w: %w: %s is not listed in %s of %s", ErrUnknownKey, ErrMethodRelationship, truncate(id), relationship, truncate(d.ID))
	}
	return vm, nil
}

// usableAt refuses a method whose revoked or expires time (parsed by
// ParseControllerDocument) is at or before now.
func (vm VerificationMethod) usableAt(now time.Time) error {
	for _, t := range []string{vm.Revoked, vm.Expires} {
		if at, err := time.Parse(time.RFC3339, t); err == nil && !now.Before(at) {
			return fmt.Errorf("%w: %w: %s", ErrUnknownKey, ErrMethodRevoked, truncate(vm.ID))
		}
	}
	return nil
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
	raw, err := b64url.DecodeString(enc)
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
		return nil, fmt.Errorf("%w: did:jwk: %w", ErrResolve, err) // gm.ErrJWKUse: a key for encryption
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
