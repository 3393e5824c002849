package qrcode

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
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

type vectorFile struct {
	Comment     string       `json:"comment"`
	Issuer      vectorKey    `json:"issuer"`
	OtherIssuer vectorKey    `json:"untrusted_issuer"`
	Device      vectorKey    `json:"device"`
	WindowSecs  int          `json:"window_seconds"`
	Revoked     []StatusRef  `json:"revoked_entries"`
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
	binding := func(is *Issuer, expiry time.Time, index uint32) []byte {
		b, err := is.IssueBinding(Binding{Subject: []byte("vector-subject-0001"), DeviceKey: device.PublicKey(),
			Assurance: AssurancePIN, IssuedAt: now.Add(-24 * time.Hour), Expiry: expiry,
			Status: StatusRef{List: 7, Index: index}, Claims: map[string]string{"age_over_18": "true", "age_over_60": "false"}})
		if err != nil {
			t.Fatal(err)
		}
		return b
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
	var ref [RefSize]byte
	for i := range ref {
		ref[i] = byte(i)
	}
	online := OnlineCode{Region: 310000, Ref: ref}.String()
	okResult := &vectorResult{Kind: "offline", Assurance: 3, Region: "310000", Counter: 7, Claims: map[string]string{"age_over_18": "true"}}
	n := now.Unix()
	ch := hex.EncodeToString([]byte("ch-1"))
	return vectorFile{
		Comment: "TrustID QR test vectors (docs/qr-format.md). Keys are SM2 (GB/T 32918), user ID 1234567812345678; " +
			"'now' is the verifier's clock (Unix seconds); revoked_entries are the status entries a verifier's lists mark revoked.",
		Issuer: key(issuerKey, kid), OtherIssuer: key(otherKey, otherKid), Device: key(device, ""),
		WindowSecs: 60, Revoked: []StatusRef{{Region: 310000, List: 7, Index: 99}},
		HolderCopy: hex.EncodeToString(holderCopy),
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
			{Name: "online code (decoded only: redeemed at the node)", Text: online, Now: n, Result: &vectorResult{Kind: "online", Region: "310000", OnlineRef: hex.EncodeToString(ref[:])}},
		},
	}
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
	revoked := &memStatus{revoked: map[StatusRef]Status{}}
	for _, r := range f.Revoked {
		revoked.set(r, StatusRevoked)
	}
	for _, c := range f.Cases {
		t.Run(c.Name, func(t *testing.T) {
			if c.Result != nil && c.Result.Kind == "online" {
				oc, err := DecodeOnline(c.Text)
				if err != nil || oc.RegionString() != c.Result.Region || hex.EncodeToString(oc.Ref[:]) != c.Result.OnlineRef {
					t.Errorf("online code: %+v %v", oc, err)
				}
				return
			}
			ver, err := NewVerifier(VerifierConfig{Keys: StaticKeys{{Kid: f.Issuer.Kid, Public: pub(f.Issuer)}}, Status: revoked,
				Window: time.Duration(f.WindowSecs) * time.Second, Now: func() time.Time { return time.Unix(c.Now, 0) }})
			if err != nil {
				t.Fatal(err)
			}
			ch, _ := hex.DecodeString(c.Challenge)
			if c.Challenge == "" {
				ch = nil
			}
			res, err := ver.Verify(context.Background(), c.Text, VerifyOptions{Challenge: ch, Audience: c.Audience, Action: c.Action})
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
			if len(res.Claims) != len(r.Claims) || (r.Claims != nil && res.Claims["age_over_18"] != r.Claims["age_over_18"]) {
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
