package strictjson

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// One-pass decoding. Decode's general path checks the document, builds
// its tree to check struct keys, then has encoding/json parse it again.
// For the types most request bodies are made of (structs of strings,
// booleans, json.RawMessage, slices, pointers, string-keyed maps,
// interface values and types with their own UnmarshalJSON, which gets
// the checked value's bytes as from encoding/json, or the value built as
// for an interface with ValueUnmarshaler) decodeDirect does all of it
// while scanning once, with
// encoding/json's results and Decode's refusals in Decode's order: a
// syntax, size, depth or duplicate-key error first, then a key error,
// then a type error (FuzzDecodeDirect holds it to the general path).

// ValueUnmarshaler is implemented by a type with its own UnmarshalJSON
// that the one-pass path may hand, instead of its JSON to parse again,
// the value it built while scanning (as for an interface value: maps,
// slices, strings, json.Number, booleans and nil, its strings copies
// that share no memory with the document) with the JSON it was built
// from (raw, which it must copy to keep). UnmarshalJSON still serves
// the general path, and must decode the same.
type ValueUnmarshaler interface {
	UnmarshalJSONValue(v any, raw []byte) error
	// WantsValue is shown the document from the value on (rest, not yet
	// checked) and says whether to build the value for
	// UnmarshalJSONValue; if not, the one-pass path checks the value
	// without building it and hands its JSON to UnmarshalJSON (for a
	// value the type reads faster from its JSON).
	WantsValue(rest []byte) bool
}

var (
	rawMessageType       = reflect.TypeFor[json.RawMessage]()
	numberType           = reflect.TypeFor[json.Number]() // a string encoding/json fills from numbers
	valueUnmarshalerType = reflect.TypeFor[ValueUnmarshaler]()
)

// directStruct is how decodeDirect fills a struct: the field index of
// each exact name (fieldsOf's checks refuse the others), and by index
// whether the field decodesItself.
type directStruct struct {
	fields *structFields
	index  map[string]int
	self   []selfKind
}

// selfKind is whether decodeDirect hands a value to its own decoder, and
// to which: found once per type, so that no value is asked (a failed
// assertion to an interface is a lookup in the runtime's itab table).
type selfKind uint8

const (
	notSelf   selfKind = iota
	selfJSON           // UnmarshalJSON
	selfValue          // UnmarshalJSONValue
)

// decodesItself says whether decodeDirect hands a value of type t, once
// pointers are followed, to its UnmarshalJSON (*t is a json.Unmarshaler)
// or to its UnmarshalJSONValue (*t is a ValueUnmarshaler too).
func decodesItself(t reflect.Type) selfKind {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	pt := reflect.PointerTo(t)
	switch {
	case t == rawMessageType || t.Kind() == reflect.Interface || !pt.Implements(unmarshalerType):
		return notSelf
	case pt.Implements(valueUnmarshalerType):
		return selfValue
	}
	return selfJSON
}

var (
	directCache sync.Map // reflect.Type -> *directStruct (nil: not direct)
	directTypes sync.Map // reflect.Type -> directType
)

// directType is what decodeDirect needs to know of a type at the top.
type directType struct {
	ok   bool     // decodeDirect can fill it
	self selfKind // decodesItself
}

func directOf(t reflect.Type) directType {
	if d, found := directTypes.Load(t); found {
		return d.(directType)
	}
	d := directType{ok: directWalk(t, map[reflect.Type]bool{}), self: decodesItself(t)}
	directTypes.Store(t, d)
	return d
}

// directOK reports whether decodeDirect can fill t.
func directOK(t reflect.Type) bool { return directOf(t).ok }

func directWalk(t reflect.Type, visiting map[reflect.Type]bool) bool {
	if t == rawMessageType {
		return true
	}
	if t == numberType {
		return false
	}
	if t.Kind() == reflect.Pointer {
		return directWalk(t.Elem(), visiting)
	}
	if custom(t) {
		return decodesItself(t) != notSelf // a TextUnmarshaler only is left to encoding/json
	}
	switch t.Kind() {
	case reflect.String, reflect.Bool:
		return true
	case reflect.Interface:
		return t.NumMethod() == 0
	case reflect.Slice:
		return directWalk(t.Elem(), visiting)
	case reflect.Map:
		return t.Key().Kind() == reflect.String && t.Key().PkgPath() == "" && directWalk(t.Elem(), visiting)
	case reflect.Struct:
		if visiting[t] {
			return true
		}
		visiting[t] = true
		return directStructOf(t) != nil && func() bool {
			for i := range t.NumField() {
				if f := t.Field(i); f.IsExported() && f.Tag.Get("json") != "-" && !directWalk(f.Type, visiting) {
					return false
				}
			}
			return true
		}()
	}
	return false
}

// directStructOf returns t's plan, or nil for a struct with embedded
// fields, two fields of one name, or a field with the ",string" option.
func directStructOf(t reflect.Type) *directStruct {
	if v, ok := directCache.Load(t); ok {
		return v.(*directStruct)
	}
	ds := &directStruct{fields: fieldsOf(t), index: map[string]int{}, self: make([]selfKind, t.NumField())}
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			ds = nil
			break
		}
		tag := f.Tag.Get("json")
		if !f.IsExported() || tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		if _, dup := ds.index[name]; dup || strings.Contains(","+opts+",", ",string,") {
			ds = nil
			break
		}
		ds.index[name] = i
		ds.self[i] = decodesItself(f.Type)
	}
	if ds != nil && len(ds.index) != len(ds.fields.exact) {
		ds = nil
	}
	got, _ := directCache.LoadOrStore(t, ds)
	return got.(*directStruct)
}

// decoder is the scanner of decodeDirect, with the path from the top to
// the value it decodes, by depth, built into a name only for an error.
type decoder struct {
	scanner
	open bool // skip keys that name no field (DecodeOpen)
	// path's first steps are on the stack (zeroing all MaxDepth of them
	// there cost ~500 instructions a decode); a document going deeper
	// has the others in deep.
	path [shallow]pathElem
	deep *[MaxDepth - shallow]pathElem
}

// shallow is how many steps of the path decoder keeps on the stack.
const shallow = 8

// setStep records the step to a value at depth (>= 1).
func (s *decoder) setStep(depth int, e pathElem) {
	if depth <= shallow {
		s.path[depth-1] = e
		return
	}
	if s.deep == nil {
		s.deep = new([MaxDepth - shallow]pathElem)
	}
	s.deep[depth-1-shallow] = e
}

// pathElem is one step from the top to a value: an object member's key,
// or an array element's index (>= 0).
type pathElem struct {
	key   string
	index int
}

// pathTo names the value at depth ("a.b[2].c"), the top one "".
func (s *decoder) pathTo(depth int) string {
	var b strings.Builder
	for i := range depth {
		var e pathElem
		if i < shallow {
			e = s.path[i]
		} else {
			e = s.deep[i-shallow]
		}
		switch {
		case e.index >= 0:
			b.WriteString("[" + strconv.Itoa(e.index) + "]")
		case b.Len() > 0:
			b.WriteString("." + e.key)
		default:
			b.WriteString(e.key)
		}
	}
	return b.String()
}

// decodeDirect decodes data, which parse's size and UTF-8 checks have
// passed, into v (a pointer to a zero value of a directOK type); open
// skips keys that name no field; self is decodesItself of v's type.
func decodeDirect(data []byte, v reflect.Value, open bool, self selfKind) error {
	s := decoder{scanner: scanner{data: data}, open: open}
	s.ws()
	if err := s.into(0, v.Elem(), self); err != nil {
		return err
	}
	s.ws()
	if s.pos != len(s.data) {
		return ErrTrailingData
	}
	if s.keyErr != nil {
		return s.keyErr
	}
	return s.typeErr
}

// mismatch records a type error (the first one) and skips the value.
func (s *decoder) mismatch(depth int) error {
	kind := "object"
	switch c := s.data[s.pos]; {
	case c == '[':
		kind = "array"
	case c == '"':
		kind = "string"
	case c == 't' || c == 'f':
		kind = "bool"
	case c == '-' || (c >= '0' && c <= '9'):
		kind = "number"
	}
	if s.typeErr == nil {
		if depth == 0 {
			s.typeErr = fmt.Errorf("%w: the document is a %s", ErrType, kind)
		} else {
			s.typeErr = fmt.Errorf("%w: %q is not a %s", ErrType, truncate(s.pathTo(depth)), kind)
		}
	}
	return s.skip(depth)
}

// buildValue checks the value at pos and builds it into out.
func (s *scanner) buildValue(depth int) error {
	build := s.build
	s.build = true
	err := s.value(depth)
	s.build = build
	return err
}

// skip checks the value at pos without building it.
func (s *scanner) skip(depth int) error {
	build := s.build
	s.build = false
	err := s.value(depth)
	s.build = build
	return err
}

// into decodes the value at pos into v as encoding/json does; self is
// decodesItself of v's type.
func (s *decoder) into(depth int, v reflect.Value, self selfKind) error {
	if s.pos >= len(s.data) {
		return s.errorf("unexpected end")
	}
	t := v.Type()
	c := s.data[s.pos]
	if t == rawMessageType {
		start := s.pos
		if err := s.skip(depth); err != nil {
			return err
		}
		v.SetBytes(append([]byte(nil), s.data[start:s.pos]...))
		return nil
	}
	if self != notSelf && t.Kind() != reflect.Pointer {
		// As encoding/json: the value's bytes (or the value built from
		// them, for a ValueUnmarshaler that wants it), null included, and
		// its error a type error.
		start := s.pos
		var err error
		var vu ValueUnmarshaler
		if self == selfValue {
			vu = v.Addr().Interface().(ValueUnmarshaler)
		}
		if vu != nil && vu.WantsValue(s.data[start:]) {
			if err := s.buildValue(depth); err != nil {
				return err
			}
			err = vu.UnmarshalJSONValue(s.out, s.data[start:s.pos])
		} else {
			if err := s.skip(depth); err != nil {
				return err
			}
			err = v.Addr().Interface().(json.Unmarshaler).UnmarshalJSON(s.data[start:s.pos])
		}
		if err != nil && s.typeErr == nil {
			if depth == 0 {
				s.typeErr = fmt.Errorf("%w: the document: %w", ErrType, err)
			} else {
				s.typeErr = fmt.Errorf("%w: %q: %w", ErrType, truncate(s.pathTo(depth)), err)
			}
		}
		return nil
	}
	if c == 'n' {
		if err := s.literal("null"); err != nil {
			return err
		}
		switch t.Kind() {
		case reflect.Pointer, reflect.Interface, reflect.Map, reflect.Slice:
			v.SetZero()
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		return s.into(depth, v.Elem(), self)
	case reflect.Interface:
		err := s.buildValue(depth)
		if err == nil {
			if s.out == nil {
				v.SetZero()
			} else {
				v.Set(reflect.ValueOf(s.out))
			}
		}
		return err
	case reflect.String:
		if c != '"' {
			return s.mismatch(depth)
		}
		start := s.pos
		raw, err := s.str()
		if err != nil {
			return err
		}
		str, err := s.decodeString(raw, start)
		if err == nil {
			v.SetString(str)
		}
		return err
	case reflect.Bool:
		switch c {
		case 't':
			v.SetBool(true)
			return s.literal("true")
		case 'f':
			v.SetBool(false)
			return s.literal("false")
		}
		return s.mismatch(depth)
	case reflect.Slice:
		if c != '[' {
			return s.mismatch(depth)
		}
		if depth >= MaxDepth {
			return ErrTooDeep
		}
		return s.arrayInto(depth+1, v)
	case reflect.Map, reflect.Struct:
		if c != '{' {
			return s.mismatch(depth)
		}
		if depth >= MaxDepth {
			return ErrTooDeep
		}
		return s.objectInto(depth+1, v)
	}
	return fmt.Errorf("strictjson: cannot decode into %v", t) // directOK refuses it
}

func (s *decoder) arrayInto(depth int, v reflect.Value) error {
	s.pos++ // [
	s.ws()
	n := 0
	self := decodesItself(v.Type().Elem())
	if s.pos < len(s.data) && s.data[s.pos] == ']' {
		s.pos++
		v.Set(reflect.MakeSlice(v.Type(), 0, 0))
		return nil
	}
	for {
		s.ws()
		if n >= v.Cap() {
			v.Grow(max(4, n))
		}
		v.SetLen(n + 1)
		s.setStep(depth, pathElem{index: n})
		if err := s.into(depth, v.Index(n), self); err != nil {
			return err
		}
		n++
		if done, err := s.separator(']'); err != nil || done {
			return err
		}
	}
}

// objectInto decodes an object into the struct or map v, refusing
// duplicate keys as object does and recording key errors as checkFields
// does (a refused key's value is only checked).
func (s *decoder) objectInto(depth int, v reflect.Value) error {
	s.pos++ // {
	s.ws()
	t := v.Type()
	var ds *directStruct
	self := notSelf // decodesItself of a map's values
	if t.Kind() == reflect.Struct {
		ds = directStructOf(t)
	} else {
		self = decodesItself(t.Elem())
		if v.IsNil() {
			v.Set(reflect.MakeMap(t))
		}
	}
	if s.pos < len(s.data) && s.data[s.pos] == '}' {
		s.pos++
		return nil
	}
	var keys keySet
	for {
		k, err := s.memberKey(&keys)
		if err != nil {
			return err
		}
		s.setStep(depth, pathElem{key: k, index: -1})
		switch {
		case ds == nil: // a map
			e := reflect.New(t.Elem()).Elem()
			if err := s.into(depth, e, self); err != nil {
				return err
			}
			v.SetMapIndex(reflect.ValueOf(k).Convert(t.Key()), e)
		default:
			i, ok := ds.index[k]
			if !ok {
				if s.keyErr == nil {
					if name, ok := ds.fields.folded[fold(k)]; ok {
						s.keyErr = &KeyError{Err: ErrFieldCase, Key: truncate(s.pathTo(depth)), Want: truncate(join(s.pathTo(depth-1), name))}
					} else if !s.open {
						s.keyErr = &KeyError{Err: ErrUnknownField, Key: truncate(s.pathTo(depth))}
					}
				}
				err = s.skip(depth)
			} else {
				err = s.into(depth, v.Field(i), ds.self[i])
			}
			if err != nil {
				return err
			}
		}
		if done, err := s.separator('}'); err != nil || done {
			return err
		}
	}
}
