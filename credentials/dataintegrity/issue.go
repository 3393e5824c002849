package dataintegrity

import (
	"crypto"
	"encoding/json"
	"fmt"
	"time"
)

// SignCredential secures a credential with an embedded proof of suite
// made by key, whose verification method (a DID URL) is vm, created on
// the current UTC day (00:00:00Z); it returns the secured credential as
// JSON and leaves doc as it is. With
// the suite bound, it is an issuer format's Sign (credentials/issuer.Format,
// whose Check is jsonld.CheckDefinedTerms: the VC 2.0 data model asks
// issuers to define every term).
//
// A document that already has a proof is refused (ErrProof): co-signing
// is AddProof's, asked for by name, never a side effect of issuing.
func SignCredential(suite string, doc map[string]any, vm string, key crypto.Signer) (string, error) {
	if _, ok := doc["proof"]; ok {
		return "", fmt.Errorf("%w: the credential already has a proof", ErrProof)
	}
	// Created on the UTC day, not to the second: that would be the same
	// in every credential of a batch and let their verifiers link them.
	secured, err := AddProof(doc, key, Options{Cryptosuite: suite, VerificationMethod: vm, Created: time.Now().UTC().Truncate(24 * time.Hour)})
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(secured)
	return string(b), err
}

// SignPresentation secures a presentation with an embedded proof of suite
// made by key, whose verification method (a DID URL of the holder) is
// vm: proofPurpose authentication, with the verifier's challenge and
// domain (VC Data Integrity 1.0 §2.1), created at created. It returns the
// secured presentation as JSON and leaves doc as it is. A document that
// already has a proof is refused (ErrProof), as in SignCredential.
func SignPresentation(suite string, doc map[string]any, vm string, key crypto.Signer, challenge, domain string, created time.Time) (string, error) {
	if _, ok := doc["proof"]; ok {
		return "", fmt.Errorf("%w: the presentation already has a proof", ErrProof)
	}
	if challenge == "" || domain == "" {
		return "", fmt.Errorf("%w: a presentation proof needs the verifier's challenge and domain", ErrProof)
	}
	secured, err := AddProof(doc, key, Options{Cryptosuite: suite, VerificationMethod: vm, ProofPurpose: PurposeAuthentication,
		Challenge: challenge, Domain: domain, Created: created})
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(secured)
	return string(b), err
}
