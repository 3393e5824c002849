package oid4vci

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// TestCredentialRequestRefusals: the proofs of one batch share one
// c_nonce and name distinct keys, and an access token issues a
// configuration once; each refusal leaves the nonce and the token unspent
// for a request that gets it right.
func TestCredentialRequestRefusals(t *testing.T) {
	s := newService(t, memoryStore(t), nil)
	ctx := context.Background()
	access := preAuthAccess(t, s, sdJWT)
	request := func(proofs ...string) ([]byte, error) {
		return json.Marshal(map[string]any{"credential_configuration_id": "ResidenceCredential_sd_jwt", "proofs": map[string]any{"jwt": proofs}})
	}
	nonce := func() string {
		n, err := s.Nonce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n.CNonce
	}
	n1, n2 := nonce(), nonce()
	mixed, _ := request(proof(t, n1, time.Now()), proof(t, n2, time.Now()))
	if _, err := s.Credential(ctx, access, mixed); code(err) != CodeInvalidNonce {
		t.Errorf("a batch with two c_nonces: %v, want invalid_nonce", err)
	}
	same := proof(t, n1, time.Now())
	twice, _ := request(same, same)
	if _, err := s.Credential(ctx, access, twice); code(err) != CodeInvalidProof {
		t.Errorf("a batch naming one key twice: %v, want invalid_proof", err)
	}
	other, _ := json.Marshal(map[string]any{"credential_configuration_id": "ResidenceCredential_jwt_vc_json", "proofs": map[string]any{"jwt": []string{proof(t, n1, time.Now())}}})
	if _, err := s.Credential(ctx, access, other); code(err) != CodeInvalidCredentialRequest {
		t.Errorf("a configuration the access token does not cover: %v, want invalid_credential_request", err)
	}
	many := make([]string, s.cfg.BatchSize+1)
	for i := range many {
		many[i] = proof(t, n1, time.Now())
	}
	over, _ := request(many...)
	if _, err := s.Credential(ctx, access, over); code(err) != CodeInvalidCredentialRequest {
		t.Errorf("a batch over batch_size: %v, want invalid_credential_request", err)
	}
	ok, _ := request(proof(t, n1, time.Now()), proof(t, n1, time.Now()))
	if _, err := s.Credential(ctx, access, ok); err != nil {
		t.Fatalf("a batch of two keys under one c_nonce: %v", err)
	}
	again, _ := request(proof(t, n2, time.Now()))
	if _, err := s.Credential(ctx, access, again); code(err) != CodeInvalidToken {
		t.Errorf("the configuration a second time under one access token (its only one): %v, want invalid_token", err)
	}
}

// TestOfferStatusEntryRefused: an offer whose credential carries its own
// credentialStatus is refused when it is made (ErrInvalid), as one with a
// top-level id: every credential of a batch is a clone of the offer's,
// so each would carry that entry (one list, one index: a value the
// verifiers shown different copies could link them by), and an SD-JWT VC
// configuration could never issue it.
func TestOfferStatusEntryRefused(t *testing.T) {
	s := newService(t, memoryStore(t), nil)
	ctx := context.Background()
	for _, cfg := range []string{"ResidenceCredential_jwt_vc_json", "ResidenceCredential_sd_jwt"} {
		cred := residence()
		cred["credentialStatus"] = map[string]any{"id": "https://status.example/lists/7#4242", "type": "BitstringStatusListEntry",
			"statusPurpose": "revocation", "statusListIndex": "4242", "statusListCredential": "https://status.example/lists/7"}
		if _, err := s.CreateOffer(ctx, OfferRequest{Client: "rp", ConfigurationIDs: []string{cfg}, Credential: cred}); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: an offer with its own credentialStatus: %v, want ErrInvalid", cfg, err)
		}
		delete(cred, "credentialStatus")
		if _, err := s.CreateOffer(ctx, OfferRequest{Client: "rp", ConfigurationIDs: []string{cfg}, Credential: cred}); err != nil {
			t.Errorf("%s: the same offer without it: %v", cfg, err)
		}
	}
}
