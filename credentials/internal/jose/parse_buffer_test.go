package jose

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/trustid-cn/trustid/internal/b64url"
	"github.com/trustid-cn/trustid/internal/strictjson"
)

// parseDecodeString is Parse as it was before it decoded into one
// buffer: each part decoded by b64url.DecodeString. FuzzParseOneBuffer holds
// Parse to it.
func parseDecodeString(token string, allow []string, maxPayload int) (*JWS, error) {
	first, rest, ok := strings.Cut(token, ".")
	if !ok {
		return nil, fmt.Errorf("%w: want three dot-separated parts", ErrMalformed)
	}
	mid, last, ok := strings.Cut(rest, ".")
	if !ok || strings.IndexByte(last, '.') >= 0 {
		return nil, fmt.Errorf("%w: want three dot-separated parts", ErrMalformed)
	}
	hdr, err := parseHeader(first, allow)
	if err != nil {
		return nil, err
	}
	if b64url.DecodedLen(len(mid)) > maxPayload {
		return nil, fmt.Errorf("%w: payload: %w", ErrMalformed, strictjson.ErrTooLarge)
	}
	raw, err := b64url.DecodeString(mid)
	if err != nil {
		return nil, fmt.Errorf("%w: payload is not base64url", ErrMalformed)
	}
	payload, err := strictjson.Object(raw, maxPayload)
	if err != nil {
		return nil, fmt.Errorf("%w: payload: %w", ErrMalformed, err)
	}
	sig, err := b64url.DecodeString(last)
	if err != nil {
		return nil, fmt.Errorf("%w: signature is not base64url", ErrMalformed)
	}
	return &JWS{Header: hdr, Payload: payload, PayloadJSON: raw, Signature: sig, signing: token[:len(first)+1+len(mid)]}, nil
}

// FuzzParseOneBuffer: Parse, which decodes the three parts into one
// buffer, gives what parseDecodeString gives (the same error text, or
// the same header, payload, bytes and signing input), and its parts do
// not overlap: appending to the payload's bytes leaves the signature and
// the signing input as they were.
func FuzzParseOneBuffer(f *testing.F) {
	for alg, s := range testSigners(f) {
		f.Add(signRaw(f, `{"alg":"`+alg+`","typ":"vc+jwt","kid":"k"}`, `{"iss":"did:web:a.example","exp":`+jsonNum(testNow.Add(time.Hour))+`,"a":[1,{"b":null}]}`, s), 64)
	}
	f.Add(b64(`{"alg":"SM2"}`)+"."+b64(`{"a":"`+strings.Repeat("x", 100)+`"}`)+".AAAA", 50)
	f.Add(b64(`{"alg":"none"}`)+"."+b64(`{}`)+".", 64)
	f.Add(b64(`{"alg":"SM2","crit":[]}`)+"."+b64(`{}`)+".", 64)
	f.Add(b64(`{"alg":"SM2"}`)+"."+nonCanonical(`{"a":1}`)+".", 64)
	f.Add(b64(`{"alg":"SM2"}`)+"\n."+b64(`{}`)+".AA\r\nAA", 64)
	f.Add(b64(`{"alg":"SM2"}`)+".e3\r\n0.", 64)
	f.Add(strings.Repeat("e", MaxHeader+1)+".e.e", 64)
	f.Add("a.b.c", 64)
	f.Add("..", 0)
	f.Fuzz(func(t *testing.T, tok string, max int) {
		max = max&0xffff + 1
		got, err := Parse(tok, testAllow, max)
		want, wantErr := parseDecodeString(tok, testAllow, max)
		if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
			t.Fatalf("one buffer: %v; DecodeString: %v", err, wantErr)
		}
		if err != nil {
			return
		}
		if !reflect.DeepEqual(got.Header, want.Header) || !reflect.DeepEqual(got.Payload, want.Payload) ||
			!bytes.Equal(got.PayloadJSON, want.PayloadJSON) || !bytes.Equal(got.Signature, want.Signature) ||
			got.signing != want.signing || string(got.signingBytes) != want.signing {
			t.Fatalf("one buffer: %+v\nDecodeString: %+v", got, want)
		}
		sig := string(got.Signature)
		_ = append(got.PayloadJSON, make([]byte, 64)...)
		_ = append(got.signingBytes, make([]byte, 64)...)
		if string(got.Signature) != sig || !bytes.Equal(got.PayloadJSON, want.PayloadJSON) || string(got.signingBytes) != want.signing {
			t.Fatal("the parts overlap in the buffer")
		}
	})
}

// TestParseReadsTokenInPlace: Parse decodes from the token's memory and
// verifies it there (no copy of the token), and the payload's strings
// are cut from the decoded payload, not from a copy of it.
func TestParseReadsTokenInPlace(t *testing.T) {
	tok := b64(`{"alg":"SM2"}`) + "." + b64(`{"a":"value"}`) + ".AAAA"
	j, err := Parse(tok, testAllow, 64)
	if err != nil {
		t.Fatal(err)
	}
	if unsafe.SliceData(j.signingBytes) != unsafe.StringData(tok) {
		t.Error("the signing input is a copy of the token")
	}
	v := j.Payload["a"].(string)
	if p, start := uintptr(unsafe.Pointer(unsafe.StringData(v))), uintptr(unsafe.Pointer(unsafe.SliceData(j.PayloadJSON))); p < start || p >= start+uintptr(len(j.PayloadJSON)) {
		t.Error("the payload's strings are cut from a copy of PayloadJSON")
	}
}
