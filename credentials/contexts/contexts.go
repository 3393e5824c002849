// Package contexts holds the JSON-LD context documents TrustID bundles, as
// byte-exact copies of their published versions (README.md in this
// directory names each source and its SHA-256). Nothing in TrustID fetches a
// context: a URL not listed here is unknown.
package contexts

import _ "embed"

// The URLs of the bundled contexts.
const (
	CredentialsV2 = "https://www.w3.org/ns/credentials/v2"
	// ExamplesV2 is the context of the VC 2.0 specifications' examples
	// (and of the W3C cryptosuite test vectors): an @vocab only.
	ExamplesV2      = "https://www.w3.org/ns/credentials/examples/v2"
	DataIntegrityV2 = "https://w3id.org/security/data-integrity/v2"
	MultikeyV1      = "https://w3id.org/security/multikey/v1"
	// JWKV1 defines JsonWebKey verification methods (publicKeyJwk).
	JWKV1 = "https://w3id.org/security/jwk/v1"
)

var (
	//go:embed credentials-v2.jsonld
	credentialsV2 []byte
	//go:embed credentials-examples-v2.jsonld
	examplesV2 []byte
	//go:embed data-integrity-v2.jsonld
	dataIntegrityV2 []byte
	//go:embed multikey-v1.jsonld
	multikeyV1 []byte
	//go:embed jwk-v1.jsonld
	jwkV1 []byte
)

var bundled = map[string][]byte{
	CredentialsV2:   credentialsV2,
	ExamplesV2:      examplesV2,
	DataIntegrityV2: dataIntegrityV2,
	MultikeyV1:      multikeyV1,
	JWKV1:           jwkV1,
}

// Document returns the bundled document of url and whether there is one.
// Callers must not modify the returned bytes.
func Document(url string) ([]byte, bool) {
	doc, ok := bundled[url]
	return doc, ok
}

// URLs returns the URLs of every bundled context.
func URLs() []string {
	return []string{CredentialsV2, ExamplesV2, DataIntegrityV2, MultikeyV1, JWKV1}
}
