package dataintegrity

import (
	"crypto"
	"encoding/json"
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
