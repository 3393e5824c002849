package identity

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"testing"
)

func TestAssess(t *testing.T) {
	ctx := context.Background()
	f := newAttestFixture(t)
	bio, err := f.verifier.Verify(ctx, f.doc, f.name, f.device, f.attest(t, f.sm2))
	if err != nil {
		t.Fatal(err)
	}
	officerTok, _ := f.sm2.Attest(f.doc, f.name, f.device, Liveness{Method: LivenessOfficer, Passed: true}, true)
	officer, err := f.verifier.Verify(ctx, f.doc, f.name, f.device, officerTok)
	if err != nil {
		t.Fatal(err)
	}
	forged := &Attestation{TerminalID: "counter-sm2", Liveness: face}
	device := f.device
	p256 := p256Key(t).Public()
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	pin, _ := testSealer(t).SealPIN("135790", []byte("b"))
	other := mustParse(t, id18("31011519850214003"))

	cases := []struct {
		name string
		p    Proof
		want Level
	}{
		{"nothing", Proof{}, LevelNone},
		{"no name", Proof{Document: f.doc}, LevelNone},
		{"no document", Proof{Name: f.name, DeviceKey: device, PIN: pin, Attestation: bio}, LevelNone},
		{"document and name", Proof{Document: f.doc, Name: f.name}, L1},
		{"Ed25519 device", Proof{Document: f.doc, Name: f.name, DeviceKey: edPub}, L1},
		{"SM2 device", Proof{Document: f.doc, Name: f.name, DeviceKey: device}, L2},
		{"P-256 device", Proof{Document: f.doc, Name: f.name, DeviceKey: p256}, L2},
		{"attestation without PIN", Proof{Document: f.doc, Name: f.name, DeviceKey: device, Attestation: bio}, L2},
		{"PIN", Proof{Document: f.doc, Name: f.name, DeviceKey: device, PIN: pin}, L3},
		{"PIN without device", Proof{Document: f.doc, Name: f.name, PIN: pin, Attestation: bio}, L1},
		{"biometric", Proof{Document: f.doc, Name: f.name, DeviceKey: device, PIN: pin, Attestation: bio}, L4},
		{"officer check", Proof{Document: f.doc, Name: f.name, DeviceKey: device, PIN: pin, Attestation: officer}, L3},
		{"forged attestation", Proof{Document: f.doc, Name: f.name, DeviceKey: device, PIN: pin, Attestation: forged}, L3},
		{"attestation of another person", Proof{Document: other, Name: f.name, DeviceKey: device, PIN: pin, Attestation: bio}, L3},
		{"attestation of another name", Proof{Document: f.doc, Name: "李四", DeviceKey: device, PIN: pin, Attestation: bio}, L3},
		{"attestation for another device", Proof{Document: f.doc, Name: f.name, DeviceKey: p256, PIN: pin, Attestation: bio}, L3},
		{"attestation for another SM2 device", Proof{Document: f.doc, Name: f.name, DeviceKey: sm2Key(t).Public(), PIN: pin, Attestation: bio}, L3},
	}
	for _, c := range cases {
		if got := Assess(c.p); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

func TestLevelText(t *testing.T) {
	for l := L1; l <= L4; l++ {
		b, err := json.Marshal(l)
		if err != nil || string(b) != `"`+l.String()+`"` {
			t.Fatalf("%d: %s %v", l, b, err)
		}
		var back Level
		if err := json.Unmarshal(b, &back); err != nil || back != l {
			t.Fatalf("round trip %s: %v", b, err)
		}
		if !l.AtLeast(L1) || !l.AtLeast(l) || (l < L4 && l.AtLeast(l+1)) {
			t.Errorf("AtLeast of %s", l)
		}
	}
	if LevelNone.AtLeast(L1) || L4.AtLeast(LevelNone) || LevelNone.String() != "none" || Level(9).String() != "Level(9)" {
		t.Error("LevelNone")
	}
	if _, err := json.Marshal(LevelNone); !errors.Is(err, ErrInvalidLevel) {
		t.Errorf("marshal none: %v", err)
	}
	for _, s := range []string{"", "l1", "L0", "L5", "L12", "none", "1"} {
		if _, err := ParseLevel(s); !errors.Is(err, ErrInvalidLevel) {
			t.Errorf("ParseLevel(%q): %v", s, err)
		}
	}
}

func TestAllCodes(t *testing.T) {
	seen := map[Code]bool{}
	for _, c := range AllCodes() {
		if seen[c] {
			t.Errorf("code %s twice", c)
		}
		seen[c] = true
		s := c.Sentinel()
		if s == nil {
			t.Errorf("code %s has no sentinel", c)
			continue
		}
		if got, ok := CodeOf(s); !ok || got != c {
			t.Errorf("CodeOf(sentinel of %s) = %s", c, got)
		}
		if got, ok := CodeOf(&LockedError{}); !ok || got != CodePINLocked {
			t.Errorf("CodeOf(LockedError) = %s", got)
		}
	}
	if len(seen) != len(Codes())+len(moreSentinels) {
		t.Error("AllCodes is not Codes and the rest")
	}
	if _, ok := CodeOf(errors.New("other")); ok {
		t.Error("foreign error has a code")
	}
	if _, ok := CodeOf(nil); ok {
		t.Error("nil has a code")
	}
}

// TestAssessStatic: a static printed code is the possession factor of a
// holder without a device (L2), a PIN sealed into it makes L3, and a face
// match attested for this document and name and no device L4.
func TestAssessStatic(t *testing.T) {
	ctx := context.Background()
	f := newAttestFixture(t)
	noDevTok, err := f.sm2.Attest(f.doc, f.name, nil, face, true)
	if err != nil {
		t.Fatal(err)
	}
	bio, err := f.verifier.Verify(ctx, f.doc, f.name, nil, noDevTok)
	if err != nil {
		t.Fatal(err)
	}
	forDevice, err := f.verifier.Verify(ctx, f.doc, f.name, f.device, f.attest(t, f.sm2))
	if err != nil {
		t.Fatal(err)
	}
	pin, _ := testSealer(t).SealPIN("135790", []byte("s"))
	for _, c := range []struct {
		name string
		p    Proof
		want Level
	}{
		{"nothing", Proof{}, LevelNone},
		{"no name", Proof{Document: f.doc, PIN: pin}, LevelNone},
		{"with a device", Proof{Document: f.doc, Name: f.name, DeviceKey: f.device}, LevelNone},
		{"document and name", Proof{Document: f.doc, Name: f.name}, L2},
		{"attestation without PIN", Proof{Document: f.doc, Name: f.name, Attestation: bio}, L2},
		{"PIN", Proof{Document: f.doc, Name: f.name, PIN: pin}, L3},
		{"biometric", Proof{Document: f.doc, Name: f.name, PIN: pin, Attestation: bio}, L4},
		{"attestation made for a device", Proof{Document: f.doc, Name: f.name, PIN: pin, Attestation: forDevice}, L3},
		{"attestation of another name", Proof{Document: f.doc, Name: "李四", PIN: pin, Attestation: bio}, L3},
	} {
		if got := AssessStatic(c.p); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}
