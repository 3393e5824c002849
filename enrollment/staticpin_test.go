package enrollment

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/store"
)

// TestCheckStaticPIN: a static code's PIN is checked against its sealed
// verifier with attempts counted per code: five wrong PINs lock that code
// (the right PIN too), not another code; a verifier moved to another
// code, or a binding's verifier, does not open; a code without a
// verifier and a malformed PIN are refused before any attempt counts.
func TestCheckStaticPIN(t *testing.T) {
	ctx := context.Background()
	sealer, err := identity.NewPINSealer([]identity.VersionedKey{{Version: 1, Secret: bytes.Repeat([]byte{1}, 32)}},
		[]identity.VersionedKey{{Version: 1, Secret: bytes.Repeat([]byte{2}, 16)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	mem, err := store.NewMemory(store.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	p := &PINChecker{cfg: PINCheckConfig{PINs: sealer, Attempts: mem}}
	code := func(handle byte, index uint32, aad []byte) *qrcode.Static {
		h := bytes.Repeat([]byte{handle}, identity.BindingHandleSize)
		if aad == nil {
			aad = StaticPINAAD(h)
		}
		sealed, err := sealer.SealPIN("135790", aad)
		if err != nil {
			t.Fatal(err)
		}
		b, err := SealedPINBytes(sealed)
		if err != nil {
			t.Fatal(err)
		}
		return &qrcode.Static{Subject: h, SealedPIN: b, Status: qrcode.StatusRef{Region: 310000, List: 7, Index: index}}
	}
	a, b := code(1, 1, nil), code(2, 2, nil)
	if len(a.SealedPIN) != 79 {
		t.Errorf("sealed verifier of %d bytes, want 79", len(a.SealedPIN))
	}
	if err := p.CheckStatic(ctx, a, "135790"); err != nil {
		t.Fatalf("right PIN: %v", err)
	}
	if err := p.CheckStatic(ctx, a, "12345"); !errors.Is(err, ErrPINRequest) {
		t.Errorf("five digits: %v", err)
	}
	if err := p.CheckStatic(ctx, &qrcode.Static{Status: a.Status}, "135790"); !errors.Is(err, ErrPINNotSet) {
		t.Errorf("no verifier: %v", err)
	}
	moved := *b
	moved.SealedPIN = a.SealedPIN
	if err := p.CheckStatic(ctx, &moved, "135790"); !errors.Is(err, identity.ErrPINVerifier) {
		t.Errorf("a verifier moved to another code: %v", err)
	}
	fromBinding := code(3, 3, []byte("TrustID/binding-pin/v1\x00"))
	if err := p.CheckStatic(ctx, fromBinding, "135790"); !errors.Is(err, identity.ErrPINVerifier) {
		t.Errorf("a verifier sealed for another use: %v", err)
	}
	for i := range identity.DefaultPINAttempts {
		var mm *PINMismatchError
		if err := p.CheckStatic(ctx, a, "246802"); !errors.As(err, &mm) || mm.Remaining != identity.DefaultPINAttempts-1-i {
			t.Fatalf("wrong PIN %d: %v", i+1, err)
		}
	}
	var locked *identity.LockedError
	if err := p.CheckStatic(ctx, a, "135790"); !errors.As(err, &locked) || locked.RetryAfter <= 0 {
		t.Errorf("the right PIN on a locked code: %v", err)
	}
	if err := p.CheckStatic(ctx, b, "135790"); err != nil {
		t.Errorf("another code is locked too: %v", err)
	}
	if StaticPINKey(a.Status) != "static:310000/7/1" {
		t.Error(StaticPINKey(a.Status))
	}
}

// TestStaticMasked: a static code's number is at least half masked for
// every document type's display form.
func TestStaticMasked(t *testing.T) {
	for in, want := range map[string]string{
		"3101**********002X": "3101**********002X",
		"UTO L8*****C3":      "UTO L******C3",
		"H0123456700":        "H01*****700",
		"":                   "",
	} {
		if got := staticMasked(in); got != want {
			t.Errorf("staticMasked(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestStaticCodeWithDevices: a printed code may come with device keys
// (its copy is one more), so with it at most MaxDeviceKeys-1 keys.
func TestStaticCodeWithDevices(t *testing.T) {
	keys := make([]DeviceKeyProof, MaxDeviceKeys)
	_, err := parseDevices("https://node.example", &Request{StaticCode: true, DeviceKeys: keys}, time.Now())
	if !errors.Is(err, ErrRequest) || !strings.Contains(err.Error(), "static_code") {
		t.Errorf("%d device keys and static_code: %v", MaxDeviceKeys, err)
	}
	_, err = parseDevices("https://node.example", &Request{StaticCode: true, DeviceKeys: keys[:MaxDeviceKeys-1]}, time.Now())
	if !errors.Is(err, ErrRequest) || strings.Contains(err.Error(), "static_code") {
		t.Errorf("%d device keys (without keys) and static_code: %v", MaxDeviceKeys-1, err)
	}
}
