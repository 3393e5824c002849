// Package dcql parses, validates and evaluates Digital Credentials Query
// Language queries (OpenID for Verifiable Presentations 1.0 §6-7): the
// credential queries (format, meta, claims with paths and value matching,
// claim_sets), credential_sets, and the claims path pointer over a
// credential's claims. It links no server dependency: the node's verifier
// (package oid4vp) and the wallet SDK (sdk/wallet) share it.
package dcql

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/trustid-cn/trustid/internal/strictjson"
)

// ErrInvalid is the error of every malformed or inconsistent query. The
// OID4VP error code for it is invalid_request.
var ErrInvalid = errors.New("dcql: invalid query")

// FormatSDJWTVC is the credential format identifier of an SD-JWT VC.
const FormatSDJWTVC = "dc+sd-jwt"

// Limits of a query.
const (
	// MaxSize bounds the JSON of a query, in bytes.
	MaxSize       = 16 << 10
	maxCredential = 16
	maxClaims     = 64
	maxPath       = 16
	maxValues     = 32
	maxSets       = 16
	maxIDLen      = 64
)

// Query is a DCQL query.
type Query struct {
	Credentials    []CredentialQuery `json:"credentials"`
	CredentialSets []CredentialSet   `json:"credential_sets,omitempty"`
}

// CredentialQuery asks for one credential (or several, Multiple).
type CredentialQuery struct {
	ID       string `json:"id"`
	Format   string `json:"format"`
	Multiple bool   `json:"multiple,omitempty"`
	Meta     *Meta  `json:"meta"`
	// Claims absent asks for no selectively disclosable claim (OpenID4VP
	// 1.0 §6.4.1: only what the format always presents).
	Claims    []ClaimQuery `json:"claims,omitempty"`
	ClaimSets [][]string   `json:"claim_sets,omitempty"`
	// RequireCryptographicHolderBinding defaults to true.
	RequireCryptographicHolderBinding *bool              `json:"require_cryptographic_holder_binding,omitempty"`
	TrustedAuthorities                []TrustedAuthority `json:"trusted_authorities,omitempty"`
}

// Meta constrains the credential's type. For dc+sd-jwt, VCTValues is
// required.
type Meta struct {
	VCTValues    []string   `json:"vct_values,omitempty"`
	TypeValues   [][]string `json:"type_values,omitempty"`
	DoctypeValue string     `json:"doctype_value,omitempty"`
}

// TrustedAuthority names issuers the verifier accepts (§6.1.1).
type TrustedAuthority struct {
	Type   string   `json:"type"`
	Values []string `json:"values"`
}

// ClaimQuery asks for one claim, optionally with the values accepted.
type ClaimQuery struct {
	ID             string `json:"id,omitempty"`
	Path           Path   `json:"path"`
	Values         []any  `json:"values,omitempty"`
	IntentToRetain *bool  `json:"intent_to_retain,omitempty"`
}

// CredentialSet lists alternative combinations of credential query IDs.
type CredentialSet struct {
	Options [][]string `json:"options"`
	// Required defaults to true.
	Required *bool `json:"required,omitempty"`
}

// IsRequired reports whether the set must be satisfied.
func (s CredentialSet) IsRequired() bool { return s.Required == nil || *s.Required }

// HolderBinding reports whether the credential query requires
// cryptographic holder binding (the default).
func (c CredentialQuery) HolderBinding() bool {
	return c.RequireCryptographicHolderBinding == nil || *c.RequireCryptographicHolderBinding
}

// Path is a claims path pointer: each element a string (an object member),
// nil (every element of an array) or a non-negative integer (an array
// index, as int).
type Path []any

// UnmarshalJSON accepts only strings, null and non-negative integers.
func (p *Path) UnmarshalJSON(b []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("%w: path must be an array", ErrInvalid)
	}
	out := make(Path, 0, len(raw))
	for _, r := range raw {
		var v any
		if err := json.Unmarshal(r, &v); err != nil {
			return fmt.Errorf("%w: path element", ErrInvalid)
		}
		switch t := v.(type) {
		case string, nil:
			out = append(out, t)
		case float64:
			var n int
			if err := json.Unmarshal(r, &n); err != nil || n < 0 || n > 1<<20 {
				return fmt.Errorf("%w: a path index must be a non-negative integer", ErrInvalid)
			}
			out = append(out, n)
		default:
			return fmt.Errorf("%w: a path element must be a string, null or a non-negative integer", ErrInvalid)
		}
	}
	*p = out
	return nil
}

// Parse decodes a query (at most MaxSize bytes, no repeated members, every
// member of its type) and validates it. Unknown members are ignored, at
// every level: "Implementations MUST ignore any unknown properties"
// (OpenID4VP 1.0 §6).
func Parse(data []byte) (*Query, error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%w: over %d bytes", ErrInvalid, MaxSize)
	}
	var q Query
	if err := strictjson.DecodeOpen(data, &q, MaxSize); err != nil {
		if errors.Is(err, ErrInvalid) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := q.Validate(); err != nil {
		return nil, err
	}
	return &q, nil
}

func bad(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// validID reports whether s is a DCQL identifier: 1 to 64 characters of
// A-Z a-z 0-9 _ -.
func validID(s string) bool {
	if s == "" || len(s) > maxIDLen {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// Validate checks the rules of §6: non-empty lists, unique valid IDs,
// claim_sets and credential_sets referring to IDs that exist, paths and
// values of the right shape, and the limits of this package.
func (q *Query) Validate() error {
	if len(q.Credentials) == 0 || len(q.Credentials) > maxCredential {
		return bad("credentials must list 1 to %d credential queries", maxCredential)
	}
	ids := map[string]bool{}
	for i := range q.Credentials {
		c := &q.Credentials[i]
		if !validID(c.ID) {
			return bad("credential query id must be 1 to %d characters of A-Z a-z 0-9 _ -", maxIDLen)
		}
		if ids[c.ID] {
			return bad("credential query id %q is repeated", c.ID)
		}
		ids[c.ID] = true
		if err := c.validate(); err != nil {
			return err
		}
	}
	if q.CredentialSets != nil && len(q.CredentialSets) == 0 {
		return bad("credential_sets must not be empty when present")
	}
	if len(q.CredentialSets) > maxSets {
		return bad("at most %d credential_sets", maxSets)
	}
	for _, s := range q.CredentialSets {
		if len(s.Options) == 0 || len(s.Options) > maxSets {
			return bad("a credential set needs 1 to %d options", maxSets)
		}
		for _, opt := range s.Options {
			if len(opt) == 0 {
				return bad("a credential set option must not be empty")
			}
			for _, id := range opt {
				if !ids[id] {
					return bad("credential set option names unknown credential query %q", truncate(id))
				}
			}
		}
	}
	return nil
}

func (c *CredentialQuery) validate() error {
	if c.Format == "" {
		return bad("credential query %q needs a format", c.ID)
	}
	if c.Meta == nil {
		return bad("credential query %q needs meta", c.ID)
	}
	if c.Format == FormatSDJWTVC {
		if len(c.Meta.VCTValues) == 0 || len(c.Meta.VCTValues) > maxValues || slices.Contains(c.Meta.VCTValues, "") {
			return bad("credential query %q: meta.vct_values must list 1 to %d types", c.ID, maxValues)
		}
	}
	if c.TrustedAuthorities != nil && len(c.TrustedAuthorities) == 0 {
		// §6.1: "A non-empty array of objects".
		return bad("credential query %q: trusted_authorities must not be empty when present", c.ID)
	}
	for _, ta := range c.TrustedAuthorities {
		if ta.Type == "" || len(ta.Values) == 0 {
			return bad("credential query %q: a trusted authority needs a type and values", c.ID)
		}
	}
	if c.Claims != nil && len(c.Claims) == 0 {
		return bad("credential query %q: claims must not be empty when present", c.ID)
	}
	if len(c.Claims) > maxClaims {
		return bad("credential query %q: at most %d claims", c.ID, maxClaims)
	}
	claimIDs := map[string]bool{}
	for _, cl := range c.Claims {
		if len(cl.Path) == 0 || len(cl.Path) > maxPath {
			return bad("credential query %q: a claim path needs 1 to %d elements", c.ID, maxPath)
		}
		if c.Format == FormatSDJWTVC {
			if _, ok := cl.Path[0].(string); !ok {
				return bad("credential query %q: an SD-JWT VC claim path starts with a claim name", c.ID)
			}
		}
		if cl.Values != nil && (len(cl.Values) == 0 || len(cl.Values) > maxValues) {
			return bad("credential query %q: values must list 1 to %d values", c.ID, maxValues)
		}
		for _, v := range cl.Values {
			switch v.(type) {
			case string, bool, json.Number:
				if n, ok := v.(json.Number); ok {
					if _, err := n.Int64(); err != nil {
						return bad("credential query %q: a number in values must be an integer", c.ID)
					}
				}
			default:
				return bad("credential query %q: values may hold strings, integers and booleans only", c.ID)
			}
		}
		if cl.ID != "" {
			if !validID(cl.ID) {
				return bad("credential query %q: claim id must be 1 to %d characters of A-Z a-z 0-9 _ -", c.ID, maxIDLen)
			}
			if claimIDs[cl.ID] {
				return bad("credential query %q: claim id %q is repeated", c.ID, cl.ID)
			}
			claimIDs[cl.ID] = true
		}
	}
	if c.ClaimSets != nil {
		if len(c.Claims) == 0 {
			return bad("credential query %q: claim_sets needs claims", c.ID)
		}
		if len(c.ClaimSets) == 0 || len(c.ClaimSets) > maxSets {
			return bad("credential query %q: claim_sets must list 1 to %d sets", c.ID, maxSets)
		}
		for _, cl := range c.Claims {
			if cl.ID == "" {
				return bad("credential query %q: with claim_sets every claim needs an id", c.ID)
			}
		}
		for _, set := range c.ClaimSets {
			if len(set) == 0 {
				return bad("credential query %q: a claim set must not be empty", c.ID)
			}
			for _, id := range set {
				if !claimIDs[id] {
					return bad("credential query %q: claim set names unknown claim %q", c.ID, truncate(id))
				}
			}
		}
	}
	return nil
}

func truncate(s string) string {
	if len(s) > maxIDLen {
		return s[:maxIDLen] + "..."
	}
	return s
}

// RepeatedClaim returns the id of a credential query whose claims name
// one path twice, "" when none does: "Verifiers MUST NOT point to the
// same claim more than once in a single query" (OpenID4VP 1.0 §6.1),
// while "Wallets SHOULD ignore such duplicate claim queries", so Parse
// takes them and the verifier refuses to send them.
func (q *Query) RepeatedClaim() string {
	for _, c := range q.Credentials {
		seen := make(map[string]bool, len(c.Claims))
		for _, cl := range c.Claims {
			k, _ := json.Marshal(cl.Path)
			if seen[string(k)] {
				return c.ID
			}
			seen[string(k)] = true
		}
	}
	return ""
}

// ClaimNames returns the top-level claim names the query may receive (the
// first element of every claim path), sorted and without repeats.
func (q *Query) ClaimNames() []string {
	var names []string
	for _, c := range q.Credentials {
		for _, cl := range c.Claims {
			if s, ok := cl.Path[0].(string); ok {
				names = append(names, s)
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// Credential returns the credential query with the given id.
func (q *Query) Credential(id string) (*CredentialQuery, bool) {
	for i := range q.Credentials {
		if q.Credentials[i].ID == id {
			return &q.Credentials[i], true
		}
	}
	return nil, false
}

// Select processes a claims path pointer over claims as OpenID4VP 1.0
// §7.1.1 does and returns the selected elements. It returns nil when the
// processing aborts with an error: a string component meets a selected
// element that is not an object, a null or index component one that is
// not an array, or the selection ends empty. A key or index missing from
// a selected element only removes that element.
func Select(claims map[string]any, p Path) []any {
	cur := []any{claims}
	for _, el := range p {
		var next []any
		for _, v := range cur {
			switch e := el.(type) {
			case string:
				m, ok := v.(map[string]any)
				if !ok {
					return nil
				}
				if x, ok := m[e]; ok {
					next = append(next, x)
				}
			case nil:
				a, ok := v.([]any)
				if !ok {
					return nil
				}
				next = append(next, a...)
			case int:
				a, ok := v.([]any)
				if !ok {
					return nil
				}
				if e < len(a) {
					next = append(next, a[e])
				}
			default:
				return nil
			}
		}
		if len(next) == 0 {
			return nil // an empty selection stays empty: step 3's error
		}
		cur = next
	}
	return cur
}

// equal compares a claim value with a query value: strings, booleans and
// integers (json.Number or float64 on the claim side).
func equal(claim, want any) bool {
	switch w := want.(type) {
	case string:
		s, ok := claim.(string)
		return ok && s == w
	case bool:
		b, ok := claim.(bool)
		return ok && b == w
	case json.Number:
		wi, err := w.Int64()
		if err != nil {
			return false
		}
		switch c := claim.(type) {
		case json.Number:
			ci, err := c.Int64()
			return err == nil && ci == wi
		case float64:
			return c == float64(wi)
		case int:
			return int64(c) == wi
		case int64:
			return c == wi
		}
	}
	return false
}

// Matches reports whether the claim query is met by claims: the path
// selects something and, with values, one selected value equals one of
// them.
func (cl ClaimQuery) Matches(claims map[string]any) bool {
	return slices.ContainsFunc(Select(claims, cl.Path), cl.Accepts)
}

// Accepts reports whether a value the path selected meets the claim
// query's values: any value when there are none, else one equal to a
// value (a wallet returns only the values that match, §6.4.1).
func (cl ClaimQuery) Accepts(v any) bool {
	return cl.Values == nil || slices.ContainsFunc(cl.Values, func(w any) bool { return equal(v, w) })
}

// Satisfied returns the claim queries of c that claims meets: every claim
// when claim_sets is absent, else the first claim set (in the verifier's
// order of preference) that claims meets. ok is false when none is met.
func (c *CredentialQuery) Satisfied(claims map[string]any) (met []ClaimQuery, ok bool) {
	if c.ClaimSets == nil {
		for _, cl := range c.Claims {
			if !cl.Matches(claims) {
				return nil, false
			}
		}
		return c.Claims, true
	}
	for _, set := range c.ClaimSets {
		met = met[:0]
		all := true
		for _, id := range set {
			for _, cl := range c.Claims {
				if cl.ID == id {
					if !cl.Matches(claims) {
						all = false
					}
					met = append(met, cl)
				}
			}
		}
		if all {
			return met, true
		}
	}
	return nil, false
}

// SetsSatisfied reports whether the credential query IDs present meet
// the query: every required credential set has an option whose IDs are
// all present; without credential_sets, every credential query is
// present.
func (q *Query) SetsSatisfied(present map[string]bool) bool {
	if q.CredentialSets == nil {
		for _, c := range q.Credentials {
			if !present[c.ID] {
				return false
			}
		}
		return true
	}
	for _, s := range q.CredentialSets {
		if !s.IsRequired() {
			continue
		}
		ok := false
		for _, opt := range s.Options {
			all := true
			for _, id := range opt {
				all = all && present[id]
			}
			if all {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// Allowed reports whether id may appear in a response: it is in some
// credential set option, or there are no credential sets.
func (q *Query) Allowed(id string) bool {
	if _, ok := q.Credential(id); !ok {
		return false
	}
	if q.CredentialSets == nil {
		return true
	}
	for _, s := range q.CredentialSets {
		for _, opt := range s.Options {
			if slices.Contains(opt, id) {
				return true
			}
		}
	}
	return false
}
