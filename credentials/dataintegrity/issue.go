package dataintegrity

import (
	"crypto"
	"encoding/json"
	"fmt"
	"time"
)

// SignCredential secures a credential with an embedded proof of suite
// made by key, whose verification method (a DID URL) is vm, created now;
// it returns the secured credential as JSON and leaves doc as it is. With
// the suite bound, it is an issuer format's Sign (credentials/issuer.Format,
// whose Check is jsonld.CheckDefinedTerms: the VC 2.0 data model asks
// issuers to define every term).
func SignCredential(suite string, doc map[string]any, vm string, key crypto.Signer) (string, error) {
	secured, err := AddProof(doc, key, Options{Cryptosuite: suite, VerificationMethod: vm, Created: time.Now()})
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
// secured presentation as JSON and leaves doc as it is.
func SignPresentation(suite string, doc map[string]any, vm string, key crypto.Signer, challenge, domain string, created time.Time) (string, error) {
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
