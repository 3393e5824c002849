package qrcode

import (
	"bytes"
	"errors"
	"testing"
)

// Vectors from RFC 9285 sections 4.3 and 4.4 (and its errata-free examples).
func TestBase45RFC9285(t *testing.T) {
	for _, v := range []struct{ in, out string }{
		{"AB", "BB8"},
		{"Hello!!", "%69 VD92EX0"},
		{"base-45", "UJCLQE7W581"},
		{"ietf!", "QED8WEX0"},
		{"", ""},
	} {
		if got := EncodeBase45([]byte(v.in)); got != v.out {
			t.Errorf("encode %q = %q, want %q", v.in, got, v.out)
		}
		got, err := DecodeBase45(v.out)
		if err != nil || string(got) != v.in {
			t.Errorf("decode %q = %q, %v; want %q", v.out, got, err, v.in)
		}
		if Base45Len(len(v.in)) != len(v.out) {
			t.Errorf("Base45Len(%d) = %d", len(v.in), Base45Len(len(v.in)))
		}
	}
}

func TestBase45Invalid(t *testing.T) {
	for _, s := range []string{
		"GGW",  // RFC 9285 §6: 65535 < value
		":::",  // 44+44*45+44*2025 = 91124
		"ZZ",   // final pair > 255
		"A",    // length 1 mod 3
		"ABCD", // length 1 mod 3
		"bb8",  // lower case is not in the alphabet
		"BB\x00",
		"BB~",
	} {
		if _, err := DecodeBase45(s); !errors.Is(err, ErrBase45) {
			t.Errorf("decode %q: %v, want ErrBase45", s, err)
		}
	}
}

func TestBase45AllBytes(t *testing.T) {
	var b []byte
	for i := 0; i < 256; i++ {
		for j := 0; j < 256; j += 17 {
			b = append(b, byte(i), byte(j))
		}
	}
	b = append(b, 0xff)
	got, err := DecodeBase45(EncodeBase45(b))
	if err != nil || !bytes.Equal(got, b) {
		t.Fatalf("round trip failed: %v", err)
	}
}

func FuzzBase45(f *testing.F) {
	f.Add("QED8WEX0")
	f.Add("%69 VD92EX0")
	f.Add("GGW")
	f.Fuzz(func(t *testing.T, s string) {
		b, err := DecodeBase45(s)
		if err != nil {
			return
		}
		if EncodeBase45(b) != s {
			t.Fatalf("decode/encode of %q is not canonical", s)
		}
	})
}
