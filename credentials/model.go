package credentials

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/trustid-cn/trustid/internal/strictjson"
	"github.com/trustid-cn/trustid/internal/xsdtime"
)

// MaxDocument bounds a credential or presentation document, and a JWS or
// SD-JWT carrying one.
const MaxDocument = 256 << 10

// Type names of the data model.
const (
	TypeCredential          = "VerifiableCredential"
	TypePresentation        = "VerifiablePresentation"
	TypeEnvelopedCredential = "EnvelopedVerifiableCredential"
)

// Credential is a validated W3C VC 2.0 credential. Its JSON is kept as
// decoded (map order is not significant in JSON; @context order is kept),
// and the fields below are read from it.
type Credential struct {
	raw map[string]any
	// canonical is the JSON raw was decoded from, when that was signed
	// as it is (vc+jwt) and is strictjson.Marshal's encoding of raw:
	// read only, raw's strings share its memory.
	canonical  []byte
	ID         string
	Types      []string
	Issuer     string
	ValidFrom  time.Time // zero when absent
	ValidUntil time.Time // zero when absent
	Subjects   []map[string]any
	// Status holds the credentialStatus entries of type
	// BitstringStatusListEntry; other status types are left in the JSON.
	Status []StatusEntry
}

// ParseCredential decodes data strictly (see package strictjson) and
// validates it as a credential.
func ParseCredential(data []byte) (*Credential, error) {
	m, err := decodeObject(data)
	if err != nil {
		return nil, err
	}
	return NewCredential(m)
}

func decodeObject(data []byte) (map[string]any, error) {
	m, err := strictjson.Object(data, MaxDocument)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return m, nil
}

// NewCredential validates m as a credential. m must hold JSON values (as
// decoded by encoding/json) and is not copied: do not change it afterwards.
func NewCredential(m map[string]any) (*Credential, error) {
	c := &Credential{raw: m}
	inv := func(field string, rule error) error {
		return &FieldError{Err: ErrInvalid, Field: field, Rule: rule.Error()}
	}
	if err := checkContext(m["@context"]); err != nil {
		var fe *FieldError
		if errors.As(err, &fe) {
			fe.Err = ErrInvalid
			return nil, fe
		}
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	var err error
	if c.Types, err = typeList(m["type"]); err != nil {
		return nil, inv("type", err)
	}
	if !slices.Contains(c.Types, TypeCredential) {
		return nil, inv("type", fmt.Errorf("must include %q", TypeCredential))
	}
	if slices.Contains(c.Types, TypeEnvelopedCredential) || slices.Contains(c.Types, TypePresentation) {
		return nil, inv("type", fmt.Errorf("must not include %q or %q", TypeEnvelopedCredential, TypePresentation))
	}
	if v, ok := m["id"]; ok {
		if c.ID, err = URLString(v); err != nil {
			return nil, inv("id", err)
		}
	}
	if c.Issuer, err = idOf(m["issuer"], true); err != nil {
		return nil, inv("issuer", err)
	}
	subjects, err := objects(m["credentialSubject"], false)
	if err != nil {
		return nil, inv("credentialSubject", err)
	}
	for i, s := range subjects {
		if len(s) == 0 {
			return nil, inv(fmt.Sprintf("credentialSubject[%d]", i), errors.New("must make at least one claim"))
		}
		if id, ok := s["id"]; ok {
			if _, err := URLString(id); err != nil {
				return nil, inv(fmt.Sprintf("credentialSubject[%d].id", i), err)
			}
		}
		if field, err := checkReserved(s); err != nil {
			return nil, inv(fmt.Sprintf("credentialSubject[%d].%s", i, field), err)
		}
	}
	c.Subjects = subjects
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"validFrom", &c.ValidFrom}, {"validUntil", &c.ValidUntil}} {
		if v, ok := m[f.name]; ok {
			if *f.dst, err = dateTimeStamp(v); err != nil {
				return nil, inv(f.name, err)
			}
		}
	}
	if !c.ValidFrom.IsZero() && !c.ValidUntil.IsZero() && c.ValidUntil.Before(c.ValidFrom) {
		return nil, inv("validUntil", errors.New("is before validFrom"))
	}
	for _, name := range []string{"name", "description"} {
		if v, ok := m[name]; ok {
			if err := languageValue(v); err != nil {
				return nil, inv(name, err)
			}
		}
	}
	if err := c.checkShapes(); err != nil {
		return nil, err
	}
	if field, err := checkReserved(m); err != nil {
		return nil, inv(field, err)
	}
	return c, nil
}

// reservedExtensions are the properties VC Data Model 2.0 §5.10 reserves
// as extension points: "In order to avoid collisions regarding how the
// following properties are used, implementations MUST specify a type
// property in the value associated with the reserved property."
var reservedExtensions = []string{"confidenceMethod", "renderMethod"}

// checkReserved checks the reserved extension points of one object of a
// credential or presentation (the document, a credential subject): each
// is an object, or a non-empty array of objects, each with a type (and
// an id, if any, that is a URL, as every id). It returns the member
// refused and why.
func checkReserved(m map[string]any) (field string, err error) {
	for _, name := range reservedExtensions {
		v, ok := m[name]
		if !ok {
			continue
		}
		items, err := objects(v, false)
		if err != nil {
			return name, err
		}
		for i, it := range items {
			if _, err := typeList(it["type"]); err != nil {
				return fmt.Sprintf("%s[%d].type", name, i), err
			}
			// §4.4: an id, when present, is a single URL.
			if id, ok := it["id"]; ok {
				if _, err := URLString(id); err != nil {
					return fmt.Sprintf("%s[%d].id", name, i), err
				}
			}
		}
	}
	return "", nil
}

// checkShapes validates the optional typed members.
func (c *Credential) checkShapes() error {
	m := c.raw
	inv := func(field string, rule error) error {
		return &FieldError{Err: ErrInvalid, Field: field, Rule: rule.Error()}
	}
	// Members whose items need a type; idRequired says whether id must be
	// present.
	for _, f := range []struct {
		name       string
		idRequired bool
	}{{"credentialStatus", false}, {"credentialSchema", true}, {"evidence", false}, {"termsOfUse", false}, {"refreshService", false}} {
		v, ok := m[f.name]
		if !ok {
			continue
		}
		items, err := objects(v, false)
		if err != nil {
			return inv(f.name, err)
		}
		for i, it := range items {
			isStatusEntry, err := hasType(it["type"], TypeBitstringStatusListEntry)
			if err != nil {
				return inv(fmt.Sprintf("%s[%d].type", f.name, i), err)
			}
			id, hasID := it["id"]
			if f.idRequired && !hasID {
				return inv(fmt.Sprintf("%s[%d].id", f.name, i), errors.New("missing"))
			}
			if hasID {
				if _, err := URLString(id); err != nil {
					return inv(fmt.Sprintf("%s[%d].id", f.name, i), err)
				}
			}
			if f.name == "credentialStatus" && isStatusEntry {
				e, err := parseStatusEntry(it)
				if err != nil {
					return inv(fmt.Sprintf("credentialStatus[%d]", i), err)
				}
				if c.Status == nil {
					c.Status = make([]StatusEntry, 0, len(items)-i) // room for the entries left
				}
				c.Status = append(c.Status, e)
			}
		}
	}
	if v, ok := m["relatedResource"]; ok {
		items, err := objects(v, false)
		if err != nil {
			return inv("relatedResource", err)
		}
		seen := map[string]bool{}
		for i, it := range items {
			id, err := URLString(it["id"])
			if err != nil {
				return inv(fmt.Sprintf("relatedResource[%d].id", i), err)
			}
			if seen[id] {
				return inv(fmt.Sprintf("relatedResource[%d].id", i), errors.New("repeats an earlier resource"))
			}
			seen[id] = true
			// digestSRI is one string of hash expressions; digestMultibase
			// one or more multibase strings. VerifyRelated parses them.
			_, sri := it["digestSRI"].(string)
			_, mb := it["digestMultibase"].(string)
			if l, ok := it["digestMultibase"].([]any); ok && len(l) > 0 {
				mb = true
			}
			if !sri && !mb {
				return inv(fmt.Sprintf("relatedResource[%d]", i), errors.New("digestSRI or digestMultibase is required"))
			}
		}
	}
	return nil
}

// Map returns the credential's JSON object. Callers must not modify it.
func (c *Credential) Map() map[string]any { return c.raw }

// MarshalJSON encodes the credential.
func (c *Credential) MarshalJSON() ([]byte, error) { return json.Marshal(c.raw) }

// checkContext enforces the @context rule: an ordered list whose first item
// is ContextV2, the others URLs or context objects.
func checkContext(v any) error {
	if s, ok := v.(string); ok {
		v = []any{s} // a single string is a one-item ordered set (JSON-LD)
	}
	list, ok := v.([]any)
	if v == nil {
		return &FieldError{Field: "@context", Rule: "missing"}
	}
	if !ok || len(list) == 0 {
		return &FieldError{Field: "@context", Rule: "must be a URL or a non-empty array"}
	}
	if s, _ := list[0].(string); s != ContextV2 {
		return &FieldError{Field: "@context", Rule: fmt.Sprintf("must start with %q", ContextV2)}
	}
	for i, item := range list[1:] {
		switch it := item.(type) {
		case string:
			if _, err := URLString(it); err != nil {
				return &FieldError{Field: fmt.Sprintf("@context[%d]", i+1), Rule: err.Error()}
			}
		case map[string]any:
		default:
			return &FieldError{Field: fmt.Sprintf("@context[%d]", i+1), Rule: "must be a URL or an object"}
		}
	}
	return nil
}

// hasType reads a type value as typeList does and reports whether it
// holds want (a single string makes no list).
func hasType(v any, want string) (bool, error) {
	if t, ok := v.(string); ok && t != "" {
		return t == want, nil
	}
	types, err := typeList(v)
	return slices.Contains(types, want), err
}

// typeList reads a type value: a string or a non-empty array of strings.
func typeList(v any) ([]string, error) {
	switch t := v.(type) {
	case string:
		if t == "" {
			return nil, errors.New("empty")
		}
		return []string{t}, nil
	case []any:
		if len(t) == 0 {
			return nil, errors.New("empty")
		}
		out := make([]string, 0, len(t))
		for _, x := range t {
			s, ok := x.(string)
			if !ok || s == "" {
				return nil, errors.New("items must be non-empty strings")
			}
			out = append(out, s)
		}
		return out, nil
	case nil:
		return nil, errors.New("missing")
	}
	return nil, errors.New("must be a string or an array of strings")
}

// URLString reads an absolute URL (any scheme: https, did, urn, data...):
// an RFC 3986 scheme, ':', and a non-empty rest without spaces or control
// characters; http(s) URLs must also parse with a host.
func URLString(v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", errors.New("must be a URL string")
	}
	if len(s) > 8192 {
		return "", errors.New("URL too long")
	}
	colon := strings.IndexByte(s, ':')
	if colon < 1 || colon == len(s)-1 {
		return "", errors.New("must be an absolute URL")
	}
	for i := 0; i < colon; i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return "", errors.New("must be an absolute URL")
		}
	}
	if spaceOrControl(s[colon+1:]) {
		return "", errors.New("URL has spaces or control characters")
	}
	if httpScheme(s[:colon]) {
		if plainHTTPURL(s[colon+1:]) {
			return s, nil
		}
		if u, err := url.Parse(s); err != nil || u.Host == "" {
			return "", errors.New("http(s) URL without a host")
		}
	}
	return s, nil
}

// httpScheme reports whether scheme, of RFC 3986's ASCII characters, is
// http or https in any case: strings.EqualFold's answer for them (it took
// ~50 instructions a call, four calls a credential's URLs).
func httpScheme(scheme string) bool {
	if len(scheme) != 4 && len(scheme) != 5 {
		return false
	}
	// An ASCII letter with 0x20 set is lower case; no other byte of the
	// scheme's characters becomes h, t, p or s that way.
	return scheme[0]|0x20 == 'h' && scheme[1]|0x20 == 't' && scheme[2]|0x20 == 't' && scheme[3]|0x20 == 'p' &&
		(len(scheme) == 4 || scheme[4]|0x20 == 's')
}

// spaceOrControl reports whether s holds a space, a control character or
// DEL (a byte <= ' ' or 0x7f), eight bytes a step.
func spaceOrControl(s string) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i <= len(s)-8; i += 8 {
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		// A high bit for a byte below 0x21 in w, or zero in d (DEL in w).
		d := w ^ ones*0x7f
		if ((w-ones*0x21)&^w|(d-ones)&^d)&highs != 0 {
			return true
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f {
			return true
		}
	}
	return false
}

// plainHTTPURL reports whether rest, what follows an http(s) URL's scheme
// and colon (without spaces or control characters), is one url.Parse
// takes with a host, without calling it: "//", a host of letters,
// digits, dots and hyphens, perhaps a port, then nothing, or a path,
// query or fragment without '%' (the only byte url.Parse refuses there).
// Other URLs are left to url.Parse.
func plainHTTPURL(rest string) bool {
	rest, ok := strings.CutPrefix(rest, "//")
	if !ok {
		return false
	}
	i := 0
	for i < len(rest) {
		c := rest[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			break
		}
		i++
	}
	if i == 0 {
		return false
	}
	if i < len(rest) && rest[i] == ':' {
		for i++; i < len(rest) && rest[i] >= '0' && rest[i] <= '9'; i++ {
		}
	}
	if i < len(rest) && rest[i] != '/' && rest[i] != '?' && rest[i] != '#' {
		return false
	}
	return strings.IndexByte(rest[i:], '%') < 0
}

// idOf reads a URL or an object with an id URL (issuer, holder).
func idOf(v any, required bool) (string, error) {
	switch t := v.(type) {
	case string:
		return URLString(t)
	case map[string]any:
		id, ok := t["id"]
		if !ok {
			return "", errors.New("object must have an id")
		}
		for _, name := range []string{"name", "description"} {
			if x, ok := t[name]; ok {
				if err := languageValue(x); err != nil {
					return "", fmt.Errorf("%s: %v", name, err)
				}
			}
		}
		return URLString(id)
	case nil:
		if !required {
			return "", nil
		}
		return "", errors.New("missing")
	}
	return "", errors.New("must be a URL or an object with an id")
}

// objects reads an object or an array of objects; empty arrays are
// rejected unless allowEmpty.
func objects(v any, allowEmpty bool) ([]map[string]any, error) {
	switch t := v.(type) {
	case map[string]any:
		return []map[string]any{t}, nil
	case []any:
		if len(t) == 0 && !allowEmpty {
			return nil, errors.New("must not be empty")
		}
		out := make([]map[string]any, 0, len(t))
		for i, x := range t {
			o, ok := x.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("item %d must be an object", i)
			}
			out = append(out, o)
		}
		return out, nil
	case nil:
		return nil, errors.New("missing")
	}
	return nil, errors.New("must be an object or an array of objects")
}

// languageValue accepts a string, a value object {"@value", "@language",
// "@direction"}, or an array of those.
func languageValue(v any) error {
	switch t := v.(type) {
	case string:
		return nil
	case map[string]any:
		if _, ok := t["@value"].(string); !ok {
			return errors.New("value object needs a string @value")
		}
		for k := range t {
			switch k {
			case "@value", "@language", "@direction":
			default:
				return fmt.Errorf("unexpected member %q in value object", truncate(k))
			}
		}
		return nil
	case []any:
		for _, x := range t {
			if _, ok := x.(map[string]any); !ok {
				if _, ok := x.(string); !ok {
					return errors.New("items must be strings or value objects")
				}
			}
			if err := languageValue(x); err != nil {
				return err
			}
		}
		return nil
	}
	return errors.New("must be a string or language value object")
}

// dateTimeStamp parses an xsd:dateTimeStamp: a dateTime with a
// mandatory time zone, e.g. 2026-01-01T00:00:00Z or
// 2026-01-01T08:00:00.5+08:00. Years outside 0001-9999, negative years and
// 24:00:00, valid lexically, are rejected as unusable.
func dateTimeStamp(v any) (time.Time, error) {
	s, ok := v.(string)
	if !ok || !xsdtime.IsDateTimeStamp(s) {
		return time.Time{}, errors.New("must be an XSD dateTimeStamp with a time zone, e.g. 2026-01-01T00:00:00Z")
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, errors.New("must be a date-time this node can represent (a real calendar date and time)")
	}
	return t, nil
}

// FormatTime writes t as an XSD dateTimeStamp in UTC with seconds.
func FormatTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }
