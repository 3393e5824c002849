package oid4vci

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/trustid-cn/trustid/internal/strictjson"
)

// Claims a wallet asks for (OID4VCI 1.0 §5.1.1: the claims member of an
// openid_credential authorization details object; Appendix B.1 and B.3:
// claims description objects; Appendix C: claims path pointers). The
// specification leaves the issuer free to issue a Credential Dataset with
// a subset of the claims; following PIPL's rule of the minimum, the node
// issues only the subject claims the wallet asked for, with those the
// credential type requires (Claim.Mandatory) and the subject id (the
// holder key's DID, or an SD-JWT VC's sub): a wallet that asks for claims
// never gets the others.

// Bounds of one claims array.
const (
	maxClaims    = 32
	maxPathDepth = 16
)

// ClaimDescription is a claims description object of authorization
// details (OID4VCI 1.0 Appendix B.1). Other members are ignored.
type ClaimDescription struct {
	Path ClaimPath `json:"path"`
	// Mandatory: the wallet accepts only a credential with this claim;
	// the issuer refuses what it cannot issue with it.
	Mandatory bool `json:"mandatory,omitempty"`
}

// ClaimPath is a claims path pointer (OID4VCI 1.0 Appendix C): a
// non-empty array whose elements are a key (string), null (every element
// of an array) or a non-negative array index (int). For dc+sd-jwt it
// points into the SD-JWT VC's claims, whose subject claims are top-level;
// for jwt_vc_json and ldp_vc into the W3C credential
// (["credentialSubject", …]).
type ClaimPath []any

// errClaimPath is a claims path pointer that is not one.
var errClaimPath = errors.New("a claims path pointer is a non-empty array of strings, nulls and non-negative integers")

// UnmarshalJSON reads a claims path pointer strictly: keys are strings,
// indexes non-negative integers without fraction or exponent.
func (p *ClaimPath) UnmarshalJSON(b []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil || len(raw) == 0 || len(raw) > maxPathDepth {
		return errClaimPath
	}
	out := make(ClaimPath, len(raw))
	for i, r := range raw {
		r = bytes.TrimSpace(r)
		switch {
		case string(r) == "null":
			out[i] = nil
		case r[0] == '"':
			var k string
			if err := json.Unmarshal(r, &k); err != nil {
				return errClaimPath
			}
			out[i] = k
		default:
			// Appendix C.1: "Negative integer values are not used".
			n, err := strconv.Atoi(string(r))
			if err != nil || r[0] < '0' || r[0] > '9' {
				return errClaimPath
			}
			out[i] = n
		}
	}
	*p = out
	return nil
}

// parseClaims reads the claims member of an authorization details object
// (absent: nil): a non-empty array of claims description objects, none
// repeating or contradicting another (Appendix B.3).
func parseClaims(raw json.RawMessage) ([]ClaimDescription, error) {
	if raw == nil {
		return nil, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil || len(items) == 0 || len(items) > maxClaims {
		return nil, fmt.Errorf("claims must be an array of 1 to %d claims description objects", maxClaims)
	}
	out := make([]ClaimDescription, len(items))
	for i, item := range items {
		if !bytes.HasPrefix(bytes.TrimSpace(item), []byte("{")) {
			return nil, errors.New("each claims entry must be a claims description object")
		}
		var d struct {
			Path      *ClaimPath `json:"path"`
			Mandatory *bool      `json:"mandatory"`
		}
		if err := strictjson.DecodeOpen(item, &d, 4<<10); err != nil || d.Path == nil {
			return nil, errors.New("a claims description object needs path, " + errClaimPath.Error() + ", and mandatory, if any, is a boolean")
		}
		out[i].Path = *d.Path
		if d.Mandatory != nil {
			out[i].Mandatory = *d.Mandatory
		}
		for _, prev := range out[:i] {
			if err := conflict(prev.Path, out[i].Path); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// conflict reports two paths Appendix B.3 makes the processing abort on:
// the same claim twice, null and an index into one array, or one claim
// taken as an array by one path and as an object by the other.
func conflict(a, b ClaimPath) error {
	for i := 0; ; i++ {
		if i == len(a) || i == len(b) {
			if len(a) == len(b) {
				return errors.New("two claims description objects name the same claim")
			}
			return nil
		}
		x, y := a[i], b[i]
		_, xKey := x.(string)
		_, yKey := y.(string)
		switch {
		case xKey != yKey:
			return errors.New("two claims description objects take one claim as an array and as an object")
		case (x == nil) != (y == nil):
			return errors.New("two claims description objects address one array with null and with an index")
		case x != y:
			return nil // different keys or indexes: different claims
		}
	}
}

// within reports whether a token request's path p of configuration c
// asks for no more than the granted claims: a claim the node always
// issues, or one under a granted or required path.
func within(c configuration, granted []ClaimDescription, p ClaimPath) bool {
	rel, always, ok := subjectPath(c, p)
	if always || !ok {
		return true // what the node always issues, or nothing
	}
	for _, g := range slices.Concat(keptPaths(c, granted), []ClaimPath{{"id"}}) {
		if len(g) <= len(rel) && prefix(g, rel) {
			return true
		}
	}
	return false
}

// prefix reports whether g is a prefix of p, null in g matching any
// index or null in p.
func prefix(g, p ClaimPath) bool {
	for i, c := range g {
		if c == nil {
			if _, key := p[i].(string); key {
				return false
			}
			continue
		}
		if c != p[i] {
			return false
		}
	}
	return true
}

// subjectPath maps a path of configuration c onto the credential subject:
// rel, relative to the subject, when it points into the subject's
// claims; always when it names the subject id or the envelope the node
// always issues (the W3C credential's other members; an SD-JWT VC's iss,
// vct, cnf, status and the like, and its sub); !ok when it can point at
// nothing (the root and the subject are objects).
func subjectPath(c configuration, p ClaimPath) (rel ClaimPath, always, ok bool) {
	first, isKey := p[0].(string)
	if !isKey {
		return nil, false, false
	}
	if c.format == FormatSDJWT {
		switch first {
		case "iss", "vct", "iat", "nbf", "exp", "cnf", "status", "sub":
			return nil, true, true
		}
		return p, false, true
	}
	if first != "credentialSubject" {
		return nil, true, true
	}
	if len(p) > 1 {
		if _, key := p[1].(string); !key {
			return nil, false, false // the subject is one object
		}
		if p[1] == "id" {
			return nil, true, true
		}
	}
	return p[1:], false, true
}

// checkClaims checks a wallet's claims for configuration c against the
// offered subject: a mandatory claim the credential would not have is
// refused (the wallet would refuse the credential).
func checkClaims(c configuration, claims []ClaimDescription, subject map[string]any) error {
	for _, d := range claims {
		if !d.Mandatory {
			continue
		}
		rel, always, ok := subjectPath(c, d.Path)
		if always {
			continue
		}
		if _, found := pick(subject, []ClaimPath{rel}); !ok || !found {
			return fail(CodeInvalidAuthorizationDetails, "the offered credential has no claim at a mandatory path")
		}
	}
	return nil
}

// minimize keeps, of the credential's subject, the claims the wallet
// asked for with claims, those the configuration requires and the id.
func minimize(c configuration, claims []ClaimDescription, cred map[string]any) {
	subject, _ := cred["credentialSubject"].(map[string]any)
	if subject == nil {
		return
	}
	kept, _ := pick(subject, append(keptPaths(c, claims), ClaimPath{"id"}))
	cred["credentialSubject"] = kept // an object: pick keeps a map a map
}

// keptPaths are the subject paths an issued credential of c keeps when the
// wallet asked for claims: those it asked for and those c requires.
func keptPaths(c configuration, claims []ClaimDescription) []ClaimPath {
	paths := slices.Clone(c.required)
	for _, d := range claims {
		if rel, always, ok := subjectPath(c, d.Path); ok && !always {
			paths = append(paths, rel)
		}
	}
	return paths
}

// pick returns what paths select of v (Appendix C.1), each selected
// element whole, and whether anything was selected. An empty path selects
// v. Objects keep the selected members; arrays the selected elements, in
// their order (so an index names the element of the offered credential,
// which may sit at a lower index in the issued one).
func pick(v any, paths []ClaimPath) (any, bool) {
	if len(paths) == 0 {
		return nil, false
	}
	for _, p := range paths {
		if len(p) == 0 {
			return v, true
		}
	}
	switch t := v.(type) {
	case map[string]any:
		byKey := map[string][]ClaimPath{}
		for _, p := range paths {
			if k, ok := p[0].(string); ok {
				byKey[k] = append(byKey[k], p[1:])
			}
		}
		out := map[string]any{}
		for k, rest := range byKey {
			if x, ok := t[k]; ok {
				if kept, found := pick(x, rest); found {
					out[k] = kept
				}
			}
		}
		return out, len(out) > 0
	case []any:
		var out []any
		for i, x := range t {
			var rest []ClaimPath
			for _, p := range paths {
				if p[0] == nil || p[0] == i {
					rest = append(rest, p[1:])
				}
			}
			if kept, found := pick(x, rest); found {
				out = append(out, kept)
			}
		}
		return out, len(out) > 0
	}
	return nil, false
}
