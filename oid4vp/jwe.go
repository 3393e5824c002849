package oid4vp

import (
	"crypto/ecdsa"

	jose "github.com/go-jose/go-jose/v4"
)

// maxJWE bounds the compact JWE of a direct_post.jwt response.
const maxJWE = MaxResponse

// decryptResponse opens a direct_post.jwt response: a compact JWE with
// alg ECDH-ES, enc A128GCM or A256GCM, and kid naming the transaction's
// key (required: the key has a kid, and OpenID4VP 1.0 §8.3 says "the JWE
// MUST include the same value in the kid JWE Header Parameter"). go-jose
// checks the ephemeral key is on the curve and refuses every other
// algorithm.
func decryptResponse(compact string, key *ecdsa.PrivateKey, kid string) ([]byte, error) {
	if len(compact) > maxJWE {
		return nil, fail(CodeInvalidRequest, nil, "response is over %d bytes", maxJWE)
	}
	jwe, err := jose.ParseEncryptedCompact(compact, []jose.KeyAlgorithm{jose.ECDH_ES},
		[]jose.ContentEncryption{jose.A128GCM, jose.A256GCM})
	if err != nil {
		return nil, fail(CodeInvalidRequest, err, "response must be a compact JWE with alg ECDH-ES and enc A128GCM or A256GCM")
	}
	if jwe.Header.KeyID == "" {
		return nil, fail(CodeInvalidRequest, nil, "response must name this transaction's key in its kid header")
	}
	if jwe.Header.KeyID != kid {
		return nil, fail(CodeInvalidRequest, nil, "response is encrypted to a key that is not this transaction's")
	}
	plain, err := jwe.Decrypt(key)
	if err != nil {
		return nil, fail(CodeInvalidRequest, err, "response cannot be decrypted with this transaction's key")
	}
	return plain, nil
}
