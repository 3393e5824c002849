// Package claimpath reads the claims description objects and claims path
// pointers of OpenID for Verifiable Credential Issuance 1.0 (Appendix B.1,
// B.3 and C) and applies them to JSON credentials: the issuer (package
// oid4vci) to issue only the claims a wallet asks for, the wallet SDK to
// check that a credential has the claims it made mandatory (with
// dcql.Select, whose Path this is).
package claimpath

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/trustid-cn/trustid/internal/strictjson"
	"github.com/trustid-cn/trustid/oid4vp/dcql"
)

// Bounds of one claims array.
const (
	MaxClaims    = 32
	MaxPathDepth = 16
)

// Description is a claims description object of authorization details
// (OID4VCI 1.0 Appendix B.1). Other members are ignored.
type Description struct {
	Path Path `json:"path"`
	// Mandatory: the wallet accepts only a credential with this claim;
	// the issuer refuses what it cannot issue with it.
	Mandatory bool `json:"mandatory,omitempty"`
}

// Path is a claims path pointer (OID4VCI 1.0 Appendix C, the same as
// OpenID4VP 1.0 §7): keys (string), null (every element of an array) and
// non-negative array indexes (int). Parse bounds its length.
type Path = dcql.Path

// Parse reads the claims member of an authorization details object
// (absent: nil): a non-empty array of claims description objects, none
// repeating or contradicting another (Appendix B.3).
func Parse(raw json.RawMessage) ([]Description, error) {
	if raw == nil {
		return nil, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil || len(items) == 0 || len(items) > MaxClaims {
		return nil, fmt.Errorf("claims must be an array of 1 to %d claims description objects", MaxClaims)
	}
	out := make([]Description, len(items))
	for i, item := range items {
		if !bytes.HasPrefix(bytes.TrimSpace(item), []byte("{")) {
			return nil, errors.New("each claims entry must be a claims description object")
		}
		var d struct {
			Path      *Path `json:"path"`
			Mandatory *bool `json:"mandatory"`
		}
		if err := strictjson.DecodeOpen(item, &d, 4<<10); err != nil || d.Path == nil || len(*d.Path) == 0 || len(*d.Path) > MaxPathDepth {
			return nil, fmt.Errorf("a claims description object needs path, a non-empty array of at most %d strings, nulls and non-negative integers, and mandatory, if any, is a boolean", MaxPathDepth)
		}
		out[i].Path = *d.Path
		if d.Mandatory != nil {
			out[i].Mandatory = *d.Mandatory
		}
		for _, prev := range out[:i] {
			if err := Conflict(prev.Path, out[i].Path); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// Conflict reports two paths Appendix B.3 makes the processing abort on:
// the same claim twice, null and an index into one array, or one claim
// taken as an array by one path and as an object by the other.
func Conflict(a, b Path) error {
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

// Keep returns what paths select of v (Appendix C.1), each selected
// element whole, and whether anything was selected. An empty path selects
// v. Objects keep the selected members; arrays the selected elements, in
// their order (so an index names the element of the offered credential,
// which may sit at a lower index in the issued one).
func Keep(v any, paths []Path) (any, bool) {
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
		byKey := map[string][]Path{}
		for _, p := range paths {
			if k, ok := p[0].(string); ok {
				byKey[k] = append(byKey[k], p[1:])
			}
		}
		out := map[string]any{}
		for k, rest := range byKey {
			if x, ok := t[k]; ok {
				if kept, found := Keep(x, rest); found {
					out[k] = kept
				}
			}
		}
		return out, len(out) > 0
	case []any:
		var out []any
		for i, x := range t {
			var rest []Path
			for _, p := range paths {
				if p[0] == nil || p[0] == i {
					rest = append(rest, p[1:])
				}
			}
			if kept, found := Keep(x, rest); found {
				out = append(out, kept)
			}
		}
		return out, len(out) > 0
	}
	return nil, false
}
