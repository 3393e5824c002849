package strictjson

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// foldRune folds r as encoding/json does when it matches a key to a
// struct field: ASCII letters to upper case, other runes through
// ToLower then ToUpper (so "ſ" folds like "s" and the Kelvin sign like
// "k"). Two keys that fold alike may fill the same field.
func foldRune(r rune) rune {
	if r < utf8.RuneSelf {
		if 'a' <= r && r <= 'z' {
			r -= 'a' - 'A'
		}
		return r
	}
	return unicode.ToUpper(unicode.ToLower(r))
}

// upperASCII is foldRune for an ASCII byte, small enough to inline.
func upperASCII(c byte) byte {
	if 'a' <= c && c <= 'z' {
		c -= 'a' - 'A'
	}
	return c
}

// fold returns k folded rune by rune (see foldRune).
func fold(k string) string {
	var b strings.Builder
	b.Grow(len(k))
	for _, r := range k {
		b.WriteRune(foldRune(r))
	}
	return b.String()
}

// equalFold reports whether a and b fold alike, without allocating.
func equalFold(a, b string) bool {
	for a != "" && b != "" {
		if ca, cb := a[0], b[0]; ca < utf8.RuneSelf && cb < utf8.RuneSelf {
			// Two ASCII bytes fold alike when equal or the same letter.
			if lower := ca | 0x20; ca != cb && (lower != cb|0x20 || lower < 'a' || lower > 'z') {
				return false
			}
			a, b = a[1:], b[1:]
			continue
		}
		ra, na := utf8.DecodeRuneInString(a)
		rb, nb := utf8.DecodeRuneInString(b)
		if ra != rb && foldRune(ra) != foldRune(rb) {
			return false
		}
		a, b = a[na:], b[nb:]
	}
	return a == "" && b == ""
}

// asciiApart reports whether x and y are ASCII and fold apart: two keys
// whose first or last bytes are so (each then a rune of its own) do not
// fold alike.
func asciiApart(x, y byte) bool {
	return x|y < utf8.RuneSelf && upperASCII(x) != upperASCII(y)
}

// duplicate is the error for key k in an object that already has seen.
func duplicate(seen, k string) error {
	if seen == k {
		return fmt.Errorf("%w: %q", ErrDuplicateKey, truncate(k))
	}
	return fmt.Errorf("%w: %q and %q differ only in case", ErrDuplicateKey, truncate(seen), truncate(k))
}

var (
	unmarshalerType     = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// custom reports whether t decodes itself (encoding/json then hands it
// the raw value, so its own decoder is responsible for strictness).
func custom(t reflect.Type) bool {
	if t.Implements(unmarshalerType) || t.Implements(textUnmarshalerType) {
		return true
	}
	if t.Kind() != reflect.Pointer {
		pt := reflect.PointerTo(t)
		return pt.Implements(unmarshalerType) || pt.Implements(textUnmarshalerType)
	}
	return false
}

// checkFields walks the decoded value v alongside t, the type it will be
// decoded into, and refuses keys that name no field of a struct (unless
// open) or name one only case-insensitively. path names where v sits,
// for errors.
func checkFields(v any, t reflect.Type, path string, open bool) error {
	for {
		if custom(t) {
			return nil
		}
		if t.Kind() != reflect.Pointer {
			break
		}
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return nil // encoding/json reports the type error
		}
		fs := fieldsOf(t)
		for k, x := range obj {
			ft, ok := fs.exact[k]
			if !ok {
				if name, ok := fs.folded[fold(k)]; ok {
					return &KeyError{Err: ErrFieldCase, Key: truncate(join(path, k)), Want: truncate(join(path, name))}
				}
				if open {
					continue
				}
				return &KeyError{Err: ErrUnknownField, Key: truncate(join(path, k))}
			}
			if err := checkFields(x, ft, join(path, k), open); err != nil {
				return err
			}
		}
	case reflect.Map:
		obj, _ := v.(map[string]any)
		for k, x := range obj {
			if err := checkFields(x, t.Elem(), join(path, k), open); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		arr, _ := v.([]any)
		for i, x := range arr {
			if err := checkFields(x, t.Elem(), fmt.Sprintf("%s[%d]", path, i), open); err != nil {
				return err
			}
		}
	}
	return nil
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

// structFields are the JSON names of a struct's fields.
type structFields struct {
	exact  map[string]reflect.Type // name -> field type
	folded map[string]string       // folded name -> name
}

var fieldCache sync.Map // reflect.Type -> *structFields

// fieldsOf returns the fields encoding/json decodes into for struct type
// t: exported fields under their tag name or Go name, fields of untagged
// embedded structs promoted, the shallowest (then the tagged) of two with
// one name winning.
func fieldsOf(t reflect.Type) *structFields {
	if fs, ok := fieldCache.Load(t); ok {
		return fs.(*structFields)
	}
	type cand struct {
		typ    reflect.Type
		depth  int
		tagged bool
	}
	cands := map[string][]cand{}
	level := []reflect.Type{t}
	seen := map[reflect.Type]bool{t: true}
	for depth := 0; len(level) > 0; depth++ {
		var next []reflect.Type
		for _, st := range level {
			for i := range st.NumField() {
				sf := st.Field(i)
				ft := sf.Type
				if sf.Anonymous {
					if ft.Kind() == reflect.Pointer {
						ft = ft.Elem()
					}
					if !sf.IsExported() && ft.Kind() != reflect.Struct {
						continue
					}
				} else if !sf.IsExported() {
					continue
				}
				tag := sf.Tag.Get("json")
				if tag == "-" {
					continue
				}
				name, _, _ := strings.Cut(tag, ",")
				if name == "" && sf.Anonymous && ft.Kind() == reflect.Struct {
					if !seen[ft] {
						seen[ft] = true
						next = append(next, ft)
					}
					continue
				}
				tagged := name != ""
				if !tagged {
					name = sf.Name
				}
				cands[name] = append(cands[name], cand{typ: sf.Type, depth: depth, tagged: tagged})
			}
		}
		level = next
	}
	fs := &structFields{exact: map[string]reflect.Type{}, folded: map[string]string{}}
	for name, cs := range cands {
		// Keep the fields at the shallowest depth; of those, the tagged
		// ones. Exactly one must remain, or encoding/json ignores the name.
		shallowest := cs[0].depth
		for _, c := range cs {
			shallowest = min(shallowest, c.depth)
		}
		var best, tagged []cand
		for _, c := range cs {
			if c.depth == shallowest {
				best = append(best, c)
				if c.tagged {
					tagged = append(tagged, c)
				}
			}
		}
		if len(best) > 1 {
			best = tagged
		}
		if len(best) == 1 {
			fs.exact[name] = best[0].typ
			fs.folded[fold(name)] = name
		}
	}
	got, _ := fieldCache.LoadOrStore(t, fs)
	return got.(*structFields)
}

// reach is what decoding into a type may fill: a struct whose keys
// checkFields must check, an interface value (where Decode's numbers
// become json.Number). Found once per type, through pointers, slices,
// arrays, maps and struct fields; a type that decodes itself counts for
// neither.
type reach struct{ structs, interfaces bool }

var reachCache sync.Map // reflect.Type -> reach

func reachOf(t reflect.Type) reach {
	if v, ok := reachCache.Load(t); ok {
		return v.(reach)
	}
	var r reach
	walkReach(t, map[reflect.Type]bool{}, &r)
	reachCache.Store(t, r)
	return r
}

func walkReach(t reflect.Type, visiting map[reflect.Type]bool, r *reach) {
	if visiting[t] || custom(t) {
		return
	}
	visiting[t] = true
	switch t.Kind() {
	case reflect.Interface:
		r.interfaces = true
	case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
		walkReach(t.Elem(), visiting, r)
	case reflect.Struct:
		r.structs = true
		for i := range t.NumField() {
			walkReach(t.Field(i).Type, visiting, r)
		}
	}
}

// hasStructs reports whether decoding into t may fill a struct whose
// keys checkFields must check.
func hasStructs(t reflect.Type) bool { return reachOf(t).structs }

// hasInterfaces reports whether decoding into t may fill an interface
// value.
func hasInterfaces(t reflect.Type) bool { return reachOf(t).interfaces }

// keySet refuses an object's repeated keys, names equal after case
// folding (duplicate): the first 16 are compared linearly, beyond that a
// set of folded keys is kept.
type keySet struct {
	n     int
	small [16]string
	set   map[string]string // folded key -> key
}

func (ks *keySet) add(k string) error {
	if ks.set == nil {
		for _, seen := range ks.small[:ks.n] {
			// Most keys are told apart by their first or last bytes, without
			// a call ("statusPurpose" and "statusListIndex" by their last).
			if seen != "" && k != "" && (asciiApart(seen[0], k[0]) || asciiApart(seen[len(seen)-1], k[len(k)-1])) {
				continue
			}
			if equalFold(seen, k) {
				return duplicate(seen, k)
			}
		}
		if ks.n < len(ks.small) {
			ks.small[ks.n] = k
			ks.n++
			return nil
		}
		ks.set = make(map[string]string, 2*(ks.n+1))
		for _, seen := range ks.small {
			ks.set[fold(seen)] = seen
		}
	}
	f := fold(k)
	if seen, dup := ks.set[f]; dup {
		return duplicate(seen, k)
	}
	ks.set[f] = k
	return nil
}
