package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"testing"
)

// TestCredentialInput: a verifiableCredential member is a token string
// (null reads as an empty one) or an object, parsed strictly; anything
// else, or a malformed object, is a 400.
func TestCredentialInput(t *testing.T) {
	for raw, want := range map[string]any{`"eyJ.a.b"`: "eyJ.a.b", `null`: "", ` "x"`: "x"} {
		got, err := credentialInput(json.RawMessage(raw), "verifiableCredential")
		if err != nil || got != want {
			t.Errorf("%s: %v, %v; want %q", raw, got, err, want)
		}
	}
	obj, err := credentialInput(json.RawMessage(`{"type":"EnvelopedVerifiableCredential","id":"data:,x"}`), "verifiableCredential")
	if m, ok := obj.(map[string]any); err != nil || !ok || m["type"] != "EnvelopedVerifiableCredential" {
		t.Errorf("object: %v, %v", obj, err)
	}
	for _, raw := range []string{`12`, `[1]`, `true`, `{"a":1,"a":2}`, `{"a":1} x`} {
		_, err := credentialInput(json.RawMessage(raw), "verifiableCredential")
		var e *Error
		if !errors.As(err, &e) || e.Status != http.StatusBadRequest || e.Code != CodeInvalidRequest {
			t.Errorf("%s: %v, want a 400 invalid_request", raw, err)
		}
	}
	if _, err := credentialInput(nil, "verifiableCredential"); err == nil {
		t.Error("a missing member was accepted")
	}
}
