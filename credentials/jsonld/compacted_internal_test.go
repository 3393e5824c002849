package jsonld

import (
	"maps"
	"slices"
	"testing"
)

// TestBundledTermsNameEachGuardedIRIOnce: a document whose members are all
// terms of the bundled contexts (no inline context, no member with ':' or
// a keyword) is taken by CheckCompacted without expansion. It cannot
// respell what the node's checks read, because the bundled contexts (their
// scoped contexts included) name each of these IRIs and keywords by one
// term only; another term is issuer-dependent (the VC 2.0 context's @vocab).
func TestBundledTermsNameEachGuardedIRIOnce(t *testing.T) {
	for iri, want := range map[string]string{
		"@id":   "id",
		"@type": "type",
		"https://www.w3.org/2018/credentials#credentialSubject":    "credentialSubject",
		"https://www.w3.org/2018/credentials#credentialStatus":     "credentialStatus",
		"https://www.w3.org/2018/credentials#validUntil":           "validUntil",
		"https://www.w3.org/2018/credentials#validFrom":            "validFrom",
		"https://www.w3.org/2018/credentials#issuer":               "issuer",
		"https://www.w3.org/2018/credentials#holder":               "holder",
		"https://www.w3.org/2018/credentials#verifiableCredential": "verifiableCredential",
		"https://www.iana.org/assignments/jwt#cnf":                 "cnf",
		"https://www.iana.org/assignments/jwt#jwk":                 "jwk",
		"https://www.iana.org/assignments/jwt#kid":                 "kid",
		"https://w3id.org/security#proof":                          "proof",
	} {
		if names := slices.Sorted(maps.Keys(bundledTermIRIs()[iri])); !slices.Equal(names, []string{want}) {
			t.Errorf("%s: named by %q in the bundled contexts, want only %q", iri, names, want)
		}
	}
}
