package wallet

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"

	"github.com/trustid-cn/trustid/gm"
)

// FuzzIssuedCredential: a credential in an issuer's credential response,
// whatever it holds, is matched to a key the wallet proved and has not
// matched yet, the one its cnf or did:jwk subject names (dc+sd-jwt,
// ldp_vc), or is refused with ErrIssuer; a refusal marks no key used.
func FuzzIssuedCredential(f *testing.F) {
	k, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	j, _ := gm.NewJWK(k.Public(), "")
	thumb, _ := j.Thumbprint()
	jwk, _ := json.Marshal(j)
	enc := base64.RawURLEncoding.EncodeToString
	sd := enc([]byte(`{"alg":"ES256","typ":"dc+sd-jwt"}`)) + "." + enc([]byte(`{"cnf":{"jwk":`+string(jwk)+`}}`)) + ".c2ln~"
	seeds := map[string]string{
		"dc+sd-jwt":   `"` + sd + `"`,
		formatLDPVC:   `{"credentialSubject":{"id":"did:jwk:` + enc(jwk) + `"}}`,
		"jwt_vc_json": `"a.b.c"`,
	}
	for format, cred := range seeds {
		if i, err := keyOf(format, []byte(cred), []string{"other", thumb}, make([]bool, 2), 1, true); err != nil || i != 1 {
			f.Fatalf("%s seed: key %d, %v", format, i, err)
		}
		f.Add(format, []byte(cred), true)
		f.Add(format, []byte(cred), false)
	}
	f.Add("dc+sd-jwt", []byte(`"a.e30.c~"`), true)
	f.Fuzz(func(t *testing.T, format string, credential []byte, all bool) {
		thumbs := []string{"other", thumb}
		used := []bool{false, false}
		i, err := keyOf(format, credential, thumbs, used, 0, all)
		if err != nil {
			if !errors.Is(err, ErrIssuer) || used[0] || used[1] {
				t.Fatalf("refusal %v (used %v)", err, used)
			}
			return
		}
		if i < 0 || i >= len(thumbs) || !used[i] || used[1-i] {
			t.Fatalf("key %d, used %v", i, used)
		}
		if format == "dc+sd-jwt" || format == formatLDPVC {
			if i != 1 {
				t.Fatalf("%s credential matched the key it does not name", format)
			}
			if format == "dc+sd-jwt" {
				var cred string
				if json.Unmarshal(credential, &cred) != nil || checkBound(cred, thumb) != nil {
					t.Fatalf("matched an SD-JWT VC not bound to the key")
				}
			}
		}
		// A second credential naming the same key finds it used.
		if format == "dc+sd-jwt" || format == formatLDPVC {
			if _, err := keyOf(format, credential, thumbs, used, 1, all); !errors.Is(err, ErrIssuer) {
				t.Fatalf("one key matched twice: %v", err)
			}
		}
	})
}
