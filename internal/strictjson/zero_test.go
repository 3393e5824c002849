package strictjson

import (
	"math"
	"reflect"
	"testing"
)

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
