package strictjson

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// TestBoxedValues: the strings, numbers and arrays Object builds are
// boxed into slabs (one allocation for several), and they hold their
// values as their own copies would: through a collection that frees the
// maps around them, other documents built meanwhile, and more values
// than one slab keeps.
func TestBoxedValues(t *testing.T) {
	doc := func(i int) string {
		var b strings.Builder
		b.WriteString("{")
		for j := range 70 {
			fmt.Fprintf(&b, `"s%d":"v%d-%d","n%d":%d.5,"a%d":["x%d",%d],`, j, i, j, j, i*100+j, j, j, j)
		}
		b.WriteString(`"last":true}`)
		return b.String()
	}
	var kept []any
	var want []any
	for i := range 20 {
		m, err := Object([]byte(doc(i)), 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		for j := range 70 {
			kept = append(kept, m[fmt.Sprintf("s%d", j)], m[fmt.Sprintf("n%d", j)], m[fmt.Sprintf("a%d", j)])
			want = append(want, fmt.Sprintf("v%d-%d", i, j), json.Number(fmt.Sprintf("%d.5", i*100+j)),
				[]any{fmt.Sprintf("x%d", j), json.Number(fmt.Sprint(j))})
		}
	}
	runtime.GC()
	runtime.GC()
	if !reflect.DeepEqual(kept, want) {
		t.Fatal("boxed values changed after a collection")
	}
	for i, v := range kept {
		if reflect.TypeOf(v) != reflect.TypeOf(want[i]) || v != nil && fmt.Sprint(v) != fmt.Sprint(want[i]) {
			t.Fatalf("value %d: %T %v, want %T %v", i, v, v, want[i], want[i])
		}
	}
	// Interfaces compare by value, as their own copies would.
	if kept[0] != any("v0-0") || kept[1] != any(json.Number("0.5")) {
		t.Fatalf("boxed values compare unequal: %v %v", kept[0], kept[1])
	}
}

// TestBoxedAllocations: a credential's dozen strings outside common's
// are boxed with a few allocations, not one each.
func TestBoxedAllocations(t *testing.T) {
	data := []byte(`{"a":"1","b":"2","c":"3","d":"4","e":"5","f":"6","g":"7","h":"8","i":"9","j":"10","k":"11","l":"12"}`)
	// The map of twelve entries and the copy of data take six
	// allocations, the slabs of four then eight strings two (one a
	// string, eighteen in all, before slabs).
	if allocs := testing.AllocsPerRun(100, func() { Object(data, 1<<10) }); allocs > 8 {
		t.Errorf("Object made %v allocations for twelve strings, want at most 8", allocs)
	}
}

// TestZeroValue: zeroValue, which Decode asks before its one-pass path,
// says what reflect's IsZero says, for values whose memory is all zeros
// and for those whose memory is not (a zero value's included).
func TestZeroValue(t *testing.T) {
	type inner struct {
		S string
		F float64
		A any
		B []byte
	}
	type big struct {
		Pad [600]byte
		S   string
	}
	empty := "abc"[:0] // a zero string that points somewhere
	for _, c := range []struct {
		name string
		v    any
	}{
		{"zero struct", &inner{}},
		{"string", &inner{S: "x"}},
		{"empty string with a pointer", &inner{S: empty}},
		{"minus zero", &inner{F: math.Copysign(0, -1)}},
		{"interface", &inner{A: 0}},
		{"empty slice", &inner{B: []byte{}}},
		{"big zero", &big{}},
		{"big", &big{S: "x"}},
		{"big with a byte", &big{Pad: [600]byte{599: 1}}},
	} {
		v := reflect.ValueOf(c.v).Elem()
		if got, want := zeroValue(v), v.IsZero(); got != want {
			t.Errorf("%s: zeroValue %v, IsZero %v", c.name, got, want)
		}
	}
}
