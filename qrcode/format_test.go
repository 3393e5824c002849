package qrcode

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// describe renders a payload for a golden file: the text, its sizes, and
// the CBOR in diagnostic notation.
func describe(t *testing.T, text string) []byte {
	t.Helper()
	k, body, err := splitPrefix(text)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := DecodeBase45(body)
	if err != nil {
		t.Fatal(err)
	}
	v, err := QRVersion(text, Medium)
	if err != nil {
		t.Fatal(err)
	}
	diag, err := cbor.Diagnose(raw)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Appendf(nil, "%s\n# kind %s, %d CBOR bytes, %d characters, QR version %d at level M\n%s\n", text, k, len(raw), len(text), v, diag)
}

func TestGoldenPayloads(t *testing.T) {
	f := newFixture(t)
	online, err := NewOnlineCode(constReader(0x5a), 310000)
	if err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{
		"online":            online.String(),
		"offline":           f.offline(t, 41, bytes.Repeat([]byte{9}, 16)),
		"offline_delegated": f.delegated(t, 7),
		"static":            f.static,
	} {
		t.Run(name, func(t *testing.T) { golden(t, name, describe(t, text)) })
	}
	diag, _ := cbor.Diagnose(f.binding)
	golden(t, "binding", fmt.Appendf(nil, "%x\n# %d bytes\n%s\n", f.binding, len(f.binding), diag))
}

// TestSizes asserts the QR size targets by encoding each payload.
func TestSizes(t *testing.T) {
	f := newFixture(t)
	online, _ := NewOnlineCode(constReader(0xff), 839999/10000*10000)
	maxChallenge := bytes.Repeat([]byte{0xff}, MaxChallenge)
	for _, c := range []struct {
		name string
		text string
		max  int
	}{
		{"online", online.String(), 6},
		{"offline showing one claim, without challenge", mustOffline(t, f, "", nil, 1, "age_over_18"), 15},
		{"offline showing one claim, with the largest challenge and audience", mustOffline(t, f, strings.Repeat("a", MaxAudienceLen), maxChallenge, 1<<63, "age_over_18"), 16},
		{"offline showing no claim, with the largest challenge and audience", mustOffline(t, f, strings.Repeat("a", MaxAudienceLen), maxChallenge, 1<<63), 15},
		{"offline showing no claim, without challenge", mustOffline(t, f, "", nil, 1), 15},
		{"delegated", f.delegated(t, 1<<40), 18},
		{"static", f.static, 15},
		{"static with a sealed PIN", f.staticPIN, 15},
	} {
		v, err := QRVersion(c.text, Medium)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d characters, version %d-M", c.name, len(c.text), v)
		if v > c.max {
			t.Errorf("%s: QR version %d at level M, want at most %d", c.name, v, c.max)
		}
	}
}

// TestNewOfflineSizeCap: a binding may attest MaxClaims claims of
// MaxClaimLen names and values; a code showing enough of them is longer
// than MaxOfflineLen, which every decoder refuses (docs/qr-format.md,
// section 1). NewOffline refuses to make it (ErrTooLarge) rather than
// hand the wallet a code no verifier reads; showing fewer works.
func TestNewOfflineSizeCap(t *testing.T) {
	f := newFixture(t)
	hc, names := largestBinding(t, f)
	v := f.verifier(t, nil)
	for n := 0; n <= MaxClaims; n++ {
		code, err := NewOffline(nil, f.device, hc, nil, Presentation{Time: f.now, Counter: uint64(n + 1), Claims: names[:n]})
		if err != nil {
			if !errors.Is(err, ErrTooLarge) || code != "" {
				t.Errorf("%d claims shown: %q, %v, want ErrTooLarge", n, code, err)
			}
			if n < 5 {
				t.Errorf("%d claims shown refused: %v", n, err)
			}
			continue
		}
		if n == MaxClaims {
			t.Errorf("%d claims shown: a code of %d characters made, cap %d", n, len(code), MaxOfflineLen)
		}
		if _, err := v.Verify(context.Background(), code, VerifyOptions{}); err != nil {
			t.Errorf("%d claims shown: %d characters, made but refused: %v", n, len(code), err)
		}
	}
}

// largestBinding issues a holder copy at the format's maxima: the
// longest subject, the largest status reference, and MaxClaims claims of
// the longest names and values, which it returns.
func largestBinding(t *testing.T, f *fixture) ([]byte, []string) {
	t.Helper()
	claims := map[string]string{}
	var names []string
	for i := range MaxClaims {
		name := fmt.Sprintf("claim_%d_%s", i, strings.Repeat("x", MaxClaimLen-8))
		claims[name] = strings.Repeat("v", MaxClaimLen)
		names = append(names, name)
	}
	hc, err := f.issuer.IssueBinding(Binding{
		Subject: bytes.Repeat([]byte{0xd4}, MaxSubjectSize), DeviceKey: f.device.PublicKey(), Assurance: AssurancePIN,
		IssuedAt: f.now.Add(-time.Hour), Expiry: f.now.Add(time.Hour), Status: StatusRef{List: 1<<32 - 1, Index: 1<<32 - 1}, Claims: claims,
	})
	if err != nil {
		t.Fatal(err)
	}
	return hc, names
}

// TestHolderRequestLargestBinding: every holder copy IssueBinding makes
// authenticates the holder's requests (an online code, a login
// approval), the largest (MaxClaims claims of the longest names and
// values, over 1,024 bytes) among them; a holder copy larger than any the
// format allows does not.
func TestHolderRequestLargestBinding(t *testing.T) {
	f := newFixture(t)
	hc, _ := largestBinding(t, f)
	v := f.verifier(t, nil)
	req := func(binding []byte) *HolderRequest {
		r := &HolderRequest{Purpose: PurposeOnlineCode, Binding: binding, Time: f.now.Unix(), Nonce: bytes.Repeat([]byte{7}, 16), Region: "310000"}
		if err := SignHolderRequest(constReader(1), f.device, r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	b, err := v.VerifyHolderRequest(context.Background(), req(hc), PurposeOnlineCode, "310000", f.now, time.Minute)
	if err != nil || len(b.Claims) != MaxClaims {
		t.Errorf("a holder copy of %d bytes: %v (%d claims)", len(hc), err, len(b.Claims))
	}
	huge := append(bytes.Repeat([]byte{0}, maxHolderCopy), hc...)
	if _, err := v.VerifyHolderRequest(context.Background(), req(huge), PurposeOnlineCode, "310000", f.now, time.Minute); !errors.Is(err, ErrHolderAuth) {
		t.Errorf("a holder copy of %d bytes: %v, want ErrHolderAuth", len(huge), err)
	}
}

func mustOffline(t *testing.T, f *fixture, aud string, challenge []byte, counter uint64, claims ...string) string {
	t.Helper()
	s, err := NewOffline(nil, f.device, f.binding, nil, Presentation{Time: f.now, Counter: counter, Audience: aud, Challenge: challenge, Claims: claims})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// reencode replaces the base45 body of a payload with b.
func reencode(text string, b []byte) string {
	i := strings.IndexByte(text, ':')
	return text[:i+1] + EncodeBase45(b)
}

func body(t testing.TB, text string) []byte {
	t.Helper()
	_, b, err := splitPrefix(text)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := DecodeBase45(b)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestDecodeErrors(t *testing.T) {
	f := newFixture(t)
	off := f.offline(t, 1, nil)
	raw := body(t, off)
	online, _ := NewOnlineCode(constReader(1), 310000)

	// A map with a duplicate key: the offline code's key 3 twice.
	var m map[int]cbor.RawMessage
	if err := cbor.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	dup := []byte{0xa4}
	for _, k := range []int{1, 2, 3} {
		dup = append(dup, byte(k))
		dup = append(dup, m[k]...)
	}
	dup = append(dup, 3)
	dup = append(dup, m[3]...)
	unknown := append([]byte{0xa4}, dup[1:len(dup)-len(m[3])-1]...)
	unknown = append(unknown, 9, 0x01)
	indef := append([]byte{0xbf}, raw[1:]...)
	indef = append(indef, 0xff)

	cases := []struct {
		name string
		text string
		want error
	}{
		{"empty", "", ErrPrefix},
		{"garbage", "hello world", ErrPrefix},
		{"lower-case prefix", strings.ToLower(off[:8]) + off[8:], ErrPrefix},
		{"unknown kind", "TIDXX1:" + off[8:], ErrPrefix},
		{"no colon", "TIDOFF2", ErrPrefix},
		{"version 1 (before per-copy handles and picked claims)", "TIDOFF1:" + off[8:], ErrVersion},
		{"version 3", "TIDOFF3:" + off[8:], ErrVersion},
		{"version 01", "TIDOFF01:" + off[8:], ErrVersion},
		{"version 12345", "TIDOFF12345:" + off[8:], ErrVersion},
		{"version of 40 digits", "TIDOFF" + strings.Repeat("9", 40) + ":" + off[8:], ErrVersion},
		{"no version", "TIDOFF:" + off[8:], ErrPrefix},
		{"online as offline", online.String(), ErrKind},
		{"oversized", "TIDOFF2:" + strings.Repeat("0", 2000), ErrTooLarge},
		{"oversized online", "TIDON1:" + strings.Repeat("0", 200), ErrTooLarge},
		{"bad base45", off[:len(off)-1] + "a", ErrMalformed},
		{"truncated", reencode(off, raw[:len(raw)-10]), ErrTruncated},
		{"trailing byte", reencode(off, append(append([]byte{}, raw...), 0)), ErrTrailingData},
		{"duplicate key", reencode(off, dup), ErrDuplicateField},
		{"unknown key", reencode(off, unknown), ErrUnknownField},
		{"indefinite length", reencode(off, indef), ErrMalformed},
		{"not a map", reencode(off, []byte{0x01}), ErrMalformed},
		{"tagged", reencode(off, append([]byte{0xd8, 0x18}, raw...)), ErrMalformed},
	}
	for _, c := range cases {
		_, _, _, err := DecodeOffline(c.text)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}

	// Online codes: wrong shapes.
	for _, c := range []struct {
		name string
		b    []byte
		want error
	}{
		{"three elements", []byte{0x83, 0x1a, 0, 4, 0xbb, 0xf0, 0x41, 0, 0}, ErrMalformed},
		{"short ref", []byte{0x82, 0x1a, 0, 4, 0xbb, 0xf0, 0x41, 0}, ErrMalformed},
		{"bad region", append([]byte{0x82, 0x1a, 0, 4, 0xbb, 0xf1, 0x50}, make([]byte, 16)...), ErrMalformed},
		{"truncated", []byte{0x82, 0x1a, 0, 4}, ErrTruncated},
	} {
		if _, err := DecodeOnline("TIDON1:" + EncodeBase45(c.b)); !errors.Is(err, c.want) {
			t.Errorf("online %s: %v, want %v", c.name, err, c.want)
		}
	}
	if c, err := DecodeOnline(online.String()); err != nil || c != online {
		t.Errorf("online round trip: %v", err)
	}
	if _, err := DecodeStatic(f.static); err != nil {
		t.Errorf("static: %v", err)
	}
	if _, err := DecodeStatic(off); !errors.Is(err, ErrKind) {
		t.Errorf("offline as static: %v", err)
	}
}

// TestIssueRefusesUnmasked: the static and delegation issuers refuse clear data.
func TestIssueRefusesUnmasked(t *testing.T) {
	f := newFixture(t)
	st := Static{Subject: f.subject, MaskedName: "李四", MaskedNumber: "310101199001010022", Assurance: 1, IssuedAt: testNow, Expiry: testNow.Add(time.Hour)}
	if _, err := f.issuer.IssueStatic(st); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("unmasked static code issued: %v", err)
	}
	// A delegation's names are masked too (Delegation: "never full names").
	for _, d := range []Delegation{{ActorName: "王五"}, {PrincipalName: "李四"}} {
		d.Actor, d.Principal, d.Relationship, d.Scope = f.guardSubj, f.subject, RelGuardian, []string{ActionPresent}
		d.NotBefore, d.Expiry = testNow, testNow.Add(time.Hour)
		if _, err := f.issuer.IssueDelegation(d); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("delegation with a clear name %q/%q issued: %v", d.ActorName, d.PrincipalName, err)
		}
	}
	if _, err := f.issuer.IssueBinding(Binding{Subject: []byte("short"), DeviceKey: f.device.PublicKey(), Assurance: 1, IssuedAt: testNow, Expiry: testNow.Add(time.Hour)}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("short subject: %v", err)
	}
	if _, err := NewOffline(nil, f.guardian, f.binding, nil, Presentation{Time: testNow}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("a device signed another device's binding: %v", err)
	}
}
