package qrcode

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/trustid-cn/trustid/gm"
)

// The published test vectors of docs/qr-format.md: keys, a holder copy and
// codes, each with the verifier's clock and options and the expected
// outcome, in testdata/vectors.json for third parties to check their own
// verifier against. Signatures use a constant "randomness" so the file is
// reproducible: TestVectors regenerates it and compares (rewrite it with
// -update), then verifies every case with this package's Verifier.

type vectorKey struct {
	Kid    string `json:"kid,omitempty"`
	D      string `json:"private_d"`
	Public string `json:"public_uncompressed"`
	Hint   string `json:"kid_hint,omitempty"`
}

type vectorCase struct {
	Name      string `json:"name"`
	Text      string `json:"text"`
	Now       int64  `json:"now"`
	Challenge string `json:"challenge_hex,omitempty"`
	Audience  string `json:"audience,omitempty"`
	// Action is the action the verifier asks of a delegated code
	// (default "present").
	Action string `json:"action,omitempty"`
	// ExpectKind is the kind the verifier is asked to check: "offline",
	// "static" or "online" (decode only); empty means offline or static,
	// as the prefix says.
	ExpectKind string `json:"expect_kind,omitempty"`
	// LastCounter, when set, means the verifier keeps counters and has
	// already accepted a code of this binding with that counter.
	LastCounter *uint64 `json:"last_counter,omitempty"`
	// Error names the spec's error (docs/qr-format.md); empty for a
	// valid code, whose Result is then given.
	Error  string        `json:"error,omitempty"`
	Result *vectorResult `json:"result,omitempty"`
}

type vectorResult struct {
	Kind       string            `json:"kind"`
	Assurance  int               `json:"assurance"`
	Region     string            `json:"region"`
	Counter    uint64            `json:"counter,omitempty"`
	Claims     map[string]string `json:"claims,omitempty"`
	MaskedName string            `json:"masked_name,omitempty"`
	OnlineRef  string            `json:"online_ref_hex,omitempty"`
	// OnBehalfOf is a delegated code's principal (masked name) and Action
	// the action its delegation allowed.
	OnBehalfOf string `json:"on_behalf_of,omitempty"`
	Action     string `json:"action,omitempty"`
}

// vectorList names one status list of a region.
type vectorList struct{ Region, List uint32 }

type vectorFile struct {
	Comment     string      `json:"comment"`
	Issuer      vectorKey   `json:"issuer"`
	OtherIssuer vectorKey   `json:"untrusted_issuer"`
	Device      vectorKey   `json:"device"`
	WindowSecs  int         `json:"window_seconds"`
	Revoked     []StatusRef `json:"revoked_entries"`
	Suspended   []StatusRef `json:"suspended_entries"`
	// Unavailable are the status lists the verifier has no fresh copy
	// of: every entry of theirs is status_unavailable.
	Unavailable []vectorList `json:"unavailable_lists"`
	HolderCopy  string       `json:"holder_copy_hex"`
	Cases       []vectorCase `json:"cases"`
}

// vectorErrors maps the spec's error names to the sentinels.
var vectorErrors = map[string]error{
	"prefix": ErrPrefix, "unsupported_version": ErrVersion, "wrong_kind": ErrKind, "too_large": ErrTooLarge,
	"truncated": ErrTruncated, "trailing_data": ErrTrailingData, "duplicate_field": ErrDuplicateField,
	"unknown_field": ErrUnknownField, "malformed": ErrMalformed, "signature": ErrSignature, "unknown_key": ErrUnknownKey,
	"binding_expired": ErrBindingExpired, "revoked": ErrRevoked, "suspended": ErrSuspended, "stale": ErrStale,
	"challenge": ErrChallenge, "audience": ErrAudience,
	"invalid_delegation": ErrDelegation, "delegation_expired": ErrDelegationExpired, "delegation_scope": ErrDelegationScope,
	"status_unavailable": ErrStatusUnavailable, "replayed": ErrReplayed, "counter_backwards": ErrCloneSuspected,
}

func makeVectors(t *testing.T) vectorFile {
	issuerKey, otherKey, device := mustKey(t, 0x11), mustKey(t, 0x22), mustKey(t, 0x33)
	key := func(k *gm.PrivateKey, kid string) vectorKey {
		v := vectorKey{Kid: kid, D: hex.EncodeToString(k.Scalar()), Public: hex.EncodeToString(k.PublicKey().Bytes())}
		if kid != "" {
			v.Hint = hex.EncodeToString(KidHint(kid))
		}
		return v
	}
	const kid, otherKid = "vector-issuer-key", "untrusted-issuer-key"
	now := time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
	issuer := &Issuer{Signer: issuerKey, Kid: kid, Region: 310000, Rand: constReader(7)}
	other := &Issuer{Signer: otherKey, Kid: otherKid, Region: 310000, Rand: constReader(7)}
	bindingIn := func(is *Issuer, expiry time.Time, status StatusRef) []byte {
		b, err := is.IssueBinding(Binding{Subject: []byte("vector-subject-0001"), DeviceKey: device.PublicKey(),
			Assurance: AssurancePIN, IssuedAt: now.Add(-24 * time.Hour), Expiry: expiry,
			Status: status, Claims: map[string]string{"age_over_18": "true", "age_over_60": "false"}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	binding := func(is *Issuer, expiry time.Time, index uint32) []byte {
		return bindingIn(is, expiry, StatusRef{List: 7, Index: index})
	}
	year := now.Add(365 * 24 * time.Hour)
	holderCopy := binding(issuer, year, 1)
	offline := func(copy []byte, p Presentation) string {
		s, err := NewOffline(constReader(9), device, copy, nil, p)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	pres := Presentation{Time: now, Counter: 7, Audience: "gate-1", Challenge: []byte("ch-1"), Claims: []string{"age_over_18"}}
	valid := offline(holderCopy, pres)
	// The same code with one bit of the device signature flipped.
	raw, _ := openText(valid, KindOffline)
	var w offlineWire
	if err := unmarshal(raw, &w, "vector"); err != nil {
		t.Fatal(err)
	}
	w.Sig = append([]byte(nil), w.Sig...)
	w.Sig[10] ^= 1
	tampered := sealText(KindOffline, marshal(w))
	truncated := sealText(KindOffline, raw[:len(raw)-2])
	// Faults of the outer map, which the device signature does not cover:
	// every decoder must refuse them before any signature is checked.
	if raw[0] != 0xa4 {
		t.Fatalf("the valid code's outer map has header %#x, want a map of 4 (keys 1, 2, 3, 5)", raw[0])
	}
	_, lastKey := lastMapEntry(t, raw)
	withEntry := func(entry ...byte) string { // one more entry at the end
		b := append([]byte{raw[0] + 1}, raw[1:]...)
		return sealText(KindOffline, append(b, entry...))
	}
	trailing := sealText(KindOffline, append(append([]byte(nil), raw...), 0x00))
	unknown := withEntry(0x09, 0x00)                                                    // key 9, value 0: no such key in version 2
	duplicate := withEntry(raw[lastKey:]...)                                            // key 5 and its value once more
	longHead := sealText(KindOffline, append([]byte{raw[0], 0x18, raw[1]}, raw[2:]...)) // key 1 as 0x18 0x01
	// A guardian's codes: the binding's holder acts for a principal.
	delegation := func(actor string, notBefore, expiry time.Time, index uint32) []byte {
		d, err := issuer.IssueDelegation(Delegation{Actor: []byte(actor), Principal: []byte("vector-principal-01"),
			ActorName: "张*", PrincipalName: "李**", Relationship: RelGuardian, Scope: []string{ActionPresent, ActionPickup},
			NotBefore: notBefore, Expiry: expiry, Status: StatusRef{List: 7, Index: index}})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	delegated := func(d []byte) string {
		s, err := NewOffline(constReader(9), device, holderCopy, d, Presentation{Time: now, Counter: 8})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	guardian := delegated(delegation("vector-subject-0001", now.Add(-24*time.Hour), year, 3))
	static, err := issuer.IssueStatic(Static{Subject: []byte("vector-subject-0002"), MaskedName: "张*", MaskedNumber: "3101**********002X",
		DocType: 1, Assurance: AssuranceDocument, IssuedAt: now.Add(-time.Hour), Expiry: year, Status: StatusRef{List: 7, Index: 2}})
	if err != nil {
		t.Fatal(err)
	}
	staticIn := func(status StatusRef) string {
		s, err := issuer.IssueStatic(Static{Subject: []byte("vector-subject-0002"), MaskedName: "张*", MaskedNumber: "3101**********002X",
			DocType: 1, Assurance: AssuranceDocument, IssuedAt: now.Add(-time.Hour), Expiry: year, Status: status})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	var ref [RefSize]byte
	for i := range ref {
		ref[i] = byte(i)
	}
	online := OnlineCode{Region: 310000, Ref: ref}.String()
	n := now.Unix()
	ch := hex.EncodeToString([]byte("ch-1"))
	// Faults inside the signed structures. Each is signed as a real
	// issuer and device would sign it, so its encoding is its only fault:
	// a verifier must refuse it while decoding, whatever order it checks
	// signatures in.
	hint := KidHint(kid)
	sign := func(context string, payload []byte) []byte {
		sig, err := gm.SignWith(constReader(7), issuerKey, sigInput(context, hint, payload))
		if err != nil {
			t.Fatal(err)
		}
		return marshal(signed{Kid: hint, Payload: payload, Sig: sig})
	}
	assemble := func(binding, delegation, presentation []byte, disclosures [][]byte) string {
		sig, err := gm.SignWith(constReader(9), device, deviceInput(binding, delegation, presentation, disclosures))
		if err != nil {
			t.Fatal(err)
		}
		return sealText(KindOffline, marshal(offlineWire{Binding: binding, Presentation: presentation, Sig: sig, Delegation: delegation, Disclosures: disclosures}))
	}
	var hw holderCopyWire
	if err := unmarshal(holderCopy, &hw, "vector"); err != nil {
		t.Fatal(err)
	}
	bindingEnv := []byte(hw.Binding)
	var bs signed
	if err := unmarshal(bindingEnv, &bs, "vector"); err != nil {
		t.Fatal(err)
	}
	var shown [][]byte // the disclosure of age_over_18, as the valid code shows it
	for _, d := range hw.Disclosures {
		var dw disclosureWire
		if err := unmarshal(d, &dw, "vector"); err != nil {
			t.Fatal(err)
		}
		if dw.Name == "age_over_18" {
			shown = append(shown, d)
		}
	}
	presBytes := []byte(w.Presentation)
	// The faults of one CBOR map m of small unsigned keys, sorted: an
	// unknown key appended (in order), the last entry repeated, the first
	// key in a longer head, a byte after the map, the last 2 bytes cut.
	type fault struct{ what, err string }
	mapFaults := func(m []byte, unknownKey byte) map[fault][]byte {
		if m[0] < 0xa1 || m[0] > 0xb6 || m[1] != 0x01 {
			t.Fatalf("not a small map starting with key 1: % x", m[:2])
		}
		_, last := lastMapEntry(t, m)
		grow := func(entry ...byte) []byte {
			return append(append([]byte{m[0] + 1}, m[1:]...), entry...)
		}
		return map[fault][]byte{
			{"an unknown key (" + strconv.Itoa(int(unknownKey)) + ")", "unknown_field"}: grow(unknownKey, 0x00),
			{"its last key repeated", "duplicate_field"}:                                grow(m[last:]...),
			{"key 1 in a longer head than needed (non-canonical)", "malformed"}:         append([]byte{m[0], 0x18, 0x01}, m[2:]...),
			{"a byte after the map", "trailing_data"}:                                   append(append([]byte(nil), m...), 0x00),
			{"the last 2 bytes cut", "truncated"}:                                       m[:len(m)-2],
		}
	}
	// The helpers re-make the valid code byte for byte: the faulted cases
	// below differ from valid ones only by their fault.
	if !bytes.Equal(sign(ctxBinding, bs.Payload), bindingEnv) || assemble(bindingEnv, nil, presBytes, shown) != valid {
		t.Fatal("sign and assemble do not re-make the valid code")
	}
	var inner []vectorCase
	addFaults := func(where string, faults map[fault][]byte, text func([]byte) string) {
		keys := make([]fault, 0, len(faults))
		for f := range faults {
			keys = append(keys, f)
		}
		slices.SortFunc(keys, func(a, b fault) int { return strings.Compare(a.what, b.what) })
		for _, f := range keys {
			inner = append(inner, vectorCase{Name: where + ": " + f.what, Text: text(faults[f]), Now: n, Challenge: ch, Error: f.err})
		}
	}
	// The binding's payload, signed by the issuer.
	addFaults("binding (issuer-signed)", mapFaults(bs.Payload, 11), func(p []byte) string {
		return assemble(sign(ctxBinding, p), nil, presBytes, shown)
	})
	var bw bindingWire
	if err := unmarshal(bs.Payload, &bw, "vector"); err != nil {
		t.Fatal(err)
	}
	badAssurance := bw
	badAssurance.Assurance = ptr(uint8(5))
	inner = append(inner, vectorCase{Name: "binding (issuer-signed): assurance level 5 (out of range)",
		Text: assemble(sign(ctxBinding, marshal(badAssurance)), nil, presBytes, shown), Now: n, Challenge: ch, Error: "malformed"})
	// The binding's envelope, as carried (the device signs these bytes):
	// its kid hint's length in a longer head.
	if bindingEnv[0] != 0x83 || bindingEnv[1] != 0x48 {
		t.Fatalf("binding envelope starts % x, want 83 48", bindingEnv[:2])
	}
	longKid := append([]byte{0x83, 0x58, 0x08}, bindingEnv[2:]...)
	inner = append(inner, vectorCase{Name: "binding envelope (device-signed): the kid hint's length in a longer head (non-canonical)",
		Text: assemble(longKid, nil, presBytes, shown), Now: n, Challenge: ch, Error: "malformed"})
	// The presentation, signed by the device.
	addFaults("presentation (device-signed)", mapFaults(presBytes, 5), func(p []byte) string {
		return assemble(bindingEnv, nil, p, shown)
	})
	zeroTime := marshal(presentationWire{Time: ptr(uint64(0)), Counter: ptr(uint64(7)), Audience: "gate-1", Challenge: []byte("ch-1")})
	inner = append(inner, vectorCase{Name: "presentation (device-signed): time 0 (out of range)",
		Text: assemble(bindingEnv, nil, zeroTime, shown), Now: n, Challenge: ch, Error: "malformed"})
	// The delegation's payload, signed by the issuer.
	var ds signed
	if err := unmarshal(delegation("vector-subject-0001", now.Add(-24*time.Hour), year, 3), &ds, "vector"); err != nil {
		t.Fatal(err)
	}
	if delegEnv := delegation("vector-subject-0001", now.Add(-24*time.Hour), year, 3); !bytes.Equal(sign(ctxDelegation, ds.Payload), delegEnv) {
		t.Fatal("sign does not re-make the delegation")
	}
	addFaults("delegation (issuer-signed)", mapFaults(ds.Payload, 12), func(p []byte) string {
		return assemble(bindingEnv, sign(ctxDelegation, p), presBytes, shown)
	})
	var dw delegationWire
	if err := unmarshal(ds.Payload, &dw, "vector"); err != nil {
		t.Fatal(err)
	}
	dw.Relationship = ptr(uint8(4))
	inner = append(inner, vectorCase{Name: "delegation (issuer-signed): relationship 4 (undefined)",
		Text: assemble(bindingEnv, sign(ctxDelegation, marshal(dw)), presBytes, shown), Now: n, Challenge: ch, Error: "malformed"})
	// Disclosures: one the binding does not attest; one attested but
	// non-canonical; a claim attested and shown twice (two salts).
	disclosure := func(salt byte, name, value string) []byte {
		return marshal(disclosureWire{Salt: bytes.Repeat([]byte{salt}, ClaimSaltSize), Name: name, Value: value})
	}
	attest := func(ds ...[]byte) []byte { // a binding attesting exactly ds
		b := bw
		b.Digests = nil
		for _, d := range ds {
			b.Digests = append(b.Digests, claimDigest(d))
		}
		slices.SortFunc(b.Digests, bytes.Compare)
		return sign(ctxBinding, marshal(b))
	}
	sorted := func(ds ...[]byte) [][]byte {
		out := slices.Clone(ds)
		slices.SortFunc(out, bytes.Compare)
		return out
	}
	forged := disclosure(0x44, "age_over_18", "true")
	inner = append(inner, vectorCase{Name: "a disclosure the binding does not attest",
		Text: assemble(bindingEnv, nil, presBytes, [][]byte{forged}), Now: n, Challenge: ch, Error: "signature"})
	longSalt := append([]byte{0x83, 0x58, 0x10}, forged[2:]...) // the salt's length in a longer head
	if forged[0] != 0x83 || forged[1] != 0x50 {
		t.Fatalf("disclosure starts % x, want 83 50", forged[:2])
	}
	inner = append(inner, vectorCase{Name: "an attested disclosure with its salt's length in a longer head (non-canonical)",
		Text: assemble(attest(longSalt), nil, presBytes, [][]byte{longSalt}), Now: n, Challenge: ch, Error: "malformed"})
	twice := []([]byte){disclosure(0x45, "age_over_18", "true"), disclosure(0x46, "age_over_18", "false")}
	inner = append(inner, vectorCase{Name: "one claim attested and shown twice (two salts)",
		Text: assemble(attest(twice...), nil, presBytes, sorted(twice...)), Now: n, Challenge: ch, Error: "duplicate_field"})
	// The static code's payload, signed by the issuer.
	staticRaw, _ := openText(static, KindStatic)
	var ss signed
	if err := unmarshal(staticRaw, &ss, "vector"); err != nil {
		t.Fatal(err)
	}
	if sealText(KindStatic, sign(ctxStatic, ss.Payload)) != static {
		t.Fatal("sign does not re-make the static code")
	}
	addFaults("static code (issuer-signed)", mapFaults(ss.Payload, 13), func(p []byte) string {
		return sealText(KindStatic, sign(ctxStatic, p))
	})
	okResult := &vectorResult{Kind: "offline", Assurance: 3, Region: "310000", Counter: 7, Claims: map[string]string{"age_over_18": "true"}}
	f := vectorFile{
		Comment: "TrustID QR test vectors (docs/qr-format.md). Keys are SM2 (GB/T 32918), user ID 1234567812345678; " +
			"'now' is the verifier's clock (Unix seconds); revoked_entries and suspended_entries are the status entries a verifier's lists mark " +
			"revoked and suspended, unavailable_lists the lists it has no fresh copy of; expect_kind is the kind it is asked to check; " +
			"last_counter, when present, the counter it last accepted for the code's binding (docs/qr-format.md section 7).",
		Issuer: key(issuerKey, kid), OtherIssuer: key(otherKey, otherKid), Device: key(device, ""),
		WindowSecs: 60, Revoked: []StatusRef{{Region: 310000, List: 7, Index: 99}},
		Suspended:   []StatusRef{{Region: 310000, List: 7, Index: 98}},
		Unavailable: []vectorList{{Region: 310000, List: 8}},
		HolderCopy:  hex.EncodeToString(holderCopy),
		Cases: []vectorCase{
			{Name: "valid offline code showing one claim", Text: valid, Now: n, Challenge: ch, Audience: "gate-1", Result: okResult},
			{Name: "stale: made 120 s before the verifier's clock", Text: valid, Now: n + 120, Challenge: ch, Error: "stale"},
			{Name: "another challenge", Text: valid, Now: n, Challenge: hex.EncodeToString([]byte("ch-2")), Error: "challenge"},
			{Name: "another audience", Text: valid, Now: n, Audience: "gate-2", Error: "audience"},
			{Name: "device signature altered", Text: tampered, Now: n, Error: "signature"},
			{Name: "binding signed by an untrusted issuer", Text: offline(binding(other, year, 1), pres), Now: n, Challenge: ch, Error: "unknown_key"},
			{Name: "binding expired", Text: offline(binding(issuer, now.Add(-time.Second), 1), pres), Now: n, Challenge: ch, Error: "binding_expired"},
			{Name: "binding revoked in its status list", Text: offline(binding(issuer, year, 99), pres), Now: n, Challenge: ch, Error: "revoked"},
			{Name: "version 1 prefix", Text: "TIDOFF1:" + valid[len("TIDOFF2:"):], Now: n, Error: "unsupported_version"},
			{Name: "CBOR truncated (the last 2 bytes removed before base45)", Text: truncated, Now: n, Error: "truncated"},
			{Name: "bytes after the CBOR item", Text: trailing, Now: n, Challenge: ch, Error: "trailing_data"},
			{Name: "an unknown key (9) in the outer map", Text: unknown, Now: n, Challenge: ch, Error: "unknown_field"},
			{Name: "a repeated key (5) in the outer map", Text: duplicate, Now: n, Challenge: ch, Error: "duplicate_field"},
			{Name: "a map key in a longer head than needed (non-canonical)", Text: longHead, Now: n, Challenge: ch, Error: "malformed"},
			{Name: "lower case base45", Text: "TIDOFF2:" + strings.ToLower(valid[len("TIDOFF2:"):]), Now: n, Error: "malformed"},
			{Name: "longer than the offline cap (1400 characters)", Text: "TIDOFF2:" + strings.Repeat("0", 1401-len("TIDOFF2:")), Now: n, Error: "too_large"},
			{Name: "not a TrustID payload", Text: "HC1:6BFOXN", Now: n, Error: "prefix"},
			{Name: "guardian's delegated code, action pickup (in scope)", Text: guardian, Now: n, Action: ActionPickup,
				Result: &vectorResult{Kind: "offline", Assurance: 3, Region: "310000", Counter: 8, OnBehalfOf: "李**", Action: ActionPickup}},
			{Name: "guardian's delegated code, action medical (outside scope)", Text: guardian, Now: n, Action: ActionMedical, Error: "delegation_scope"},
			{Name: "delegation expired", Text: delegated(delegation("vector-subject-0001", now.Add(-48*time.Hour), now.Add(-time.Hour), 3)), Now: n, Action: ActionPickup, Error: "delegation_expired"},
			{Name: "delegation naming another actor", Text: delegated(delegation("vector-subject-0009", now.Add(-24*time.Hour), year, 3)), Now: n, Action: ActionPickup, Error: "invalid_delegation"},
			{Name: "delegation revoked in its status list", Text: delegated(delegation("vector-subject-0001", now.Add(-24*time.Hour), year, 99)), Now: n, Action: ActionPickup, Error: "revoked"},
			{Name: "static code", Text: static, Now: n, Result: &vectorResult{Kind: "static", Assurance: 1, Region: "310000", MaskedName: "张*"}},
			{Name: "online code (decoded only: redeemed at the node)", Text: online, Now: n, ExpectKind: "online", Result: &vectorResult{Kind: "online", Region: "310000", OnlineRef: hex.EncodeToString(ref[:])}},
			{Name: "binding suspended in its status list", Text: offline(binding(issuer, year, 98), pres), Now: n, Challenge: ch, Error: "suspended"},
			{Name: "binding in a status list the verifier has no fresh copy of (list 8)", Text: offline(bindingIn(issuer, year, StatusRef{List: 8, Index: 1}), pres), Now: n, Challenge: ch, Error: "status_unavailable"},
			{Name: "delegation suspended in its status list", Text: delegated(delegation("vector-subject-0001", now.Add(-24*time.Hour), year, 98)), Now: n, Action: ActionPickup, Error: "suspended"},
			{Name: "static code suspended in its status list", Text: staticIn(StatusRef{List: 7, Index: 98}), Now: n, Error: "suspended"},
			{Name: "static code in a status list the verifier has no fresh copy of (list 8)", Text: staticIn(StatusRef{List: 8, Index: 2}), Now: n, Error: "status_unavailable"},
			{Name: "counter 7 after counter 6 of the same binding", Text: valid, Now: n, Challenge: ch, LastCounter: ptr(uint64(6)), Result: okResult},
			{Name: "replayed: counter 7 already accepted for this binding", Text: valid, Now: n, Challenge: ch, LastCounter: ptr(uint64(7)), Error: "replayed"},
			{Name: "counter 7 after counter 8 of the same binding (cloned device suspected)", Text: valid, Now: n, Challenge: ch, LastCounter: ptr(uint64(8)), Error: "counter_backwards"},
			{Name: "a static code where an offline code is expected", Text: static, Now: n, ExpectKind: "offline", Error: "wrong_kind"},
			{Name: "an online code where an offline or static code is expected", Text: online, Now: n, Error: "wrong_kind"},
			{Name: "an offline code where an online code is expected", Text: valid, Now: n, ExpectKind: "online", Error: "wrong_kind"},
		},
	}
	f.Cases = append(f.Cases, inner...)
	return f
}

func TestVectors(t *testing.T) {
	v := makeVectors(t)
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", "vectors.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if string(want) != string(got) {
		t.Fatalf("%s differs from what this package produces (run with -update if the change is intended)", path)
	}
	// Verify the published file, as a third party would: keys from it.
	var f vectorFile
	if err := json.Unmarshal(want, &f); err != nil {
		t.Fatal(err)
	}
	pub := func(k vectorKey) *gm.PublicKey {
		b, _ := hex.DecodeString(k.Public)
		p, err := gm.ParsePublicKeyBytes(b)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	status := &vectorStatus{entries: map[StatusRef]Status{}, unavailable: map[vectorList]bool{}}
	for _, r := range f.Revoked {
		status.entries[r] = StatusRevoked
	}
	for _, r := range f.Suspended {
		status.entries[r] = StatusSuspended
	}
	for _, l := range f.Unavailable {
		status.unavailable[l] = true
	}
	covered := map[string]bool{}
	for _, c := range f.Cases {
		covered[c.Error] = true
		t.Run(c.Name, func(t *testing.T) {
			if c.ExpectKind == "online" {
				oc, err := DecodeOnline(c.Text)
				if c.Error != "" {
					if want := vectorErrors[c.Error]; want == nil || !errors.Is(err, want) {
						t.Errorf("error %v, want %s", err, c.Error)
					}
					return
				}
				if err != nil || oc.RegionString() != c.Result.Region || hex.EncodeToString(oc.Ref[:]) != c.Result.OnlineRef {
					t.Errorf("online code: %+v %v", oc, err)
				}
				return
			}
			var counters CounterStore
			if c.LastCounter != nil {
				// The verifier's state: a code of this binding accepted
				// with counter LastCounter (keyed as section 6 says).
				p, err := decodeOffline(c.Text)
				if err != nil {
					t.Fatal(err)
				}
				m := &MemoryCounters{}
				id := gm.SM3(p.bindingSigned.Sig)
				if err := m.Advance(context.Background(), id[:16], *c.LastCounter); err != nil {
					t.Fatal(err)
				}
				counters = m
			}
			ver, err := NewVerifier(VerifierConfig{Keys: StaticKeys{{Kid: f.Issuer.Kid, Public: pub(f.Issuer)}}, Status: status, Counters: counters,
				Window: time.Duration(f.WindowSecs) * time.Second, Now: func() time.Time { return time.Unix(c.Now, 0) }})
			if err != nil {
				t.Fatal(err)
			}
			ch, _ := hex.DecodeString(c.Challenge)
			if c.Challenge == "" {
				ch = nil
			}
			opts := VerifyOptions{Challenge: ch, Audience: c.Audience, Action: c.Action}
			var res *Result
			switch c.ExpectKind {
			case "":
				res, err = ver.Verify(context.Background(), c.Text, opts)
			case "offline":
				res, err = ver.VerifyOffline(context.Background(), c.Text, opts)
			case "static":
				res, err = ver.VerifyStatic(context.Background(), c.Text)
			default:
				t.Fatalf("expect_kind %q", c.ExpectKind)
			}
			if c.Error != "" {
				if want := vectorErrors[c.Error]; want == nil || !errors.Is(err, want) {
					t.Errorf("error %v, want %s", err, c.Error)
				}
				return
			}
			if err != nil {
				t.Fatalf("valid code refused: %v", err)
			}
			r := c.Result
			if res.Kind.String() != r.Kind || res.Assurance != r.Assurance || res.Region != r.Region || res.Counter != r.Counter {
				t.Errorf("result %+v, want %+v", res, r)
			}
			if !maps.Equal(res.Claims, r.Claims) {
				t.Errorf("claims %v, want %v", res.Claims, r.Claims)
			}
			if r.OnBehalfOf != "" && (res.OnBehalfOf == nil || res.OnBehalfOf.MaskedName != r.OnBehalfOf || res.Action != r.Action) {
				t.Errorf("on behalf of %+v, action %q; want %s, %s", res.OnBehalfOf, res.Action, r.OnBehalfOf, r.Action)
			}
			if r.OnBehalfOf == "" && res.OnBehalfOf != nil {
				t.Errorf("a code on behalf of %+v, want none", res.OnBehalfOf)
			}
			if r.MaskedName != "" && (res.Static == nil || res.Static.MaskedName != r.MaskedName) {
				t.Errorf("static %+v, want masked name %s", res.Static, r.MaskedName)
			}
		})
	}
	// Every error the spec names has a vector.
	for name := range vectorErrors {
		if !covered[name] {
			t.Errorf("no vector raises %s", name)
		}
	}
}

// vectorStatus is the verifier's status lists as the vector file gives
// them: fresh copies of every list but the unavailable ones, with the
// revoked and suspended entries marked.
type vectorStatus struct {
	entries     map[StatusRef]Status
	unavailable map[vectorList]bool
}

func (s *vectorStatus) Status(_ context.Context, ref StatusRef) (Status, error) {
	if s.unavailable[vectorList{Region: ref.Region, List: ref.List}] {
		return 0, ErrStatusUnavailable
	}
	return s.entries[ref], nil
}

// lastMapEntry returns where the last entry of the CBOR map m (of
// unsigned-integer keys below 24, sorted) starts: its key's offset.
func lastMapEntry(t *testing.T, m []byte) (key byte, offset int) {
	t.Helper()
	var fields map[int]cbor.RawMessage
	if err := cbor.Unmarshal(m, &fields); err != nil {
		t.Fatal(err)
	}
	last := -1
	for k := range fields {
		last = max(last, k)
	}
	off := len(m) - len(fields[last]) - 1
	if last < 0 || last >= 24 || m[off] != byte(last) {
		t.Fatalf("the map's last entry (key %d) is not at its end", last)
	}
	return byte(last), off
}
