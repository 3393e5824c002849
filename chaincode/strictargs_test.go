package chaincode

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/strictjson"
)

// caseDup returns the JSON object starting at arg[off] with its first
// member given once more first, under its name in upper case and with the
// same value. encoding/json reads both into one field, so a decoder that
// only refuses exact repeats accepts the result.
func caseDup(t *testing.T, arg string, off int) string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(arg[off:]))
	var obj json.RawMessage
	if err := dec.Decode(&obj); err != nil {
		t.Fatal(err)
	}
	dec = json.NewDecoder(strings.NewReader(string(obj)))
	dec.Token() // {
	k, _ := dec.Token()
	var v json.RawMessage
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	dup := `{"` + strings.ToUpper(k.(string)) + `":` + string(v) + `,` + string(obj[1:])
	return arg[:off] + dup + arg[off+len(obj):]
}

// recased returns arg with the first member of the object at arg[off]
// renamed to its upper case.
func recased(t *testing.T, arg string, off int) string {
	t.Helper()
	i := off + strings.Index(arg[off:], `"`)
	j := i + 1 + strings.Index(arg[i+1:], `"`)
	return arg[:i] + strings.ToUpper(arg[i:j]) + arg[j:]
}

// nestedObject returns the offset of the first object inside arg, or -1.
func nestedObject(arg string) int {
	return strings.Index(arg[1:], "{") + 1
}

// TestArgumentsExactNames: every function taking a JSON argument refuses
// a member repeated in another case, at the top and nested, and a member
// named in another case, and accepts the argument as it is.
func TestArgumentsExactNames(t *testing.T) {
	batch, err := NewBatchInput("node-a-1", changes(2, "00000001aaaaaaaa", 1))
	if err != nil {
		t.Fatal(err)
	}
	region31 := RegionInput{Code: "310000", DID: "did:web:310000.trustid.example", Name: "node 310000",
		Endpoints: []Endpoint{{Type: "api", URL: "https://api.310000.trustid.example"}}}
	cases := []struct {
		msp, fn string
		arg     string
	}{
		{msp44, "RequestRegion", regionInput(t, "440000", 4)},
		{msp31, "UpdateRegion", js(t, region31)},
		{msp31, "AddRegionKey", js(t, edJWK(t, 9, "310000-k2"))},
		{msp31, "PutIssuer", js(t, Issuer{ID: "did:web:310000.trustid.example:issuer", Name: "Shanghai issuer", Types: []string{"ResidenceCredential"},
			Keys: []RegistryKey{{JWK: sm2JWK(t, 5, "iss-1")}}, Status: EntryActive})},
		{msp32, "PutRelyingParty", js(t, RelyingParty{ClientID: "gov-portal-32", Name: "Jiangsu portal", JWKS: gm.JWKS{Keys: []gm.JWK{sm2JWK(t, 6, "rp-1")}},
			Scopes: []string{"openid"}, Claims: []string{"age_over_18"}, Status: EntryActive})},
		{msp31, "PutTerminal", js(t, Terminal{ID: "T-310000-0001", Kind: "counter", Key: sm2JWK(t, 7, "term-1"), Status: EntryActive})},
		{msp31, "AnchorBatch", js(t, batch)},
		{msp31, "PutStatusHeads", js(t, []HeadInput{{List: "00000001aaaaaaaa", Version: 1, Digest: strings.Repeat("00", 32)}})},
		{msp31, "AnchorAudit", js(t, AuditInput{Node: "n1", Seq: 1, Head: strings.Repeat("ab", 32)})},
		{msp31, "BindCredentialIDs", js(t, BindingsInput{Region: "310000", Bindings: []CredentialBinding{{Key: bindingKey(1), Value: bindingValue(1)}}})},
	}
	for _, c := range cases {
		t.Run(c.fn, func(t *testing.T) {
			l := consortium(t)
			top := strings.Index(c.arg, "{")
			bad := map[string]string{
				"repeated in another case": caseDup(t, c.arg, top),
				"named in another case":    recased(t, c.arg, top),
			}
			if n := nestedObject(c.arg[top:]); n > 0 {
				bad["nested repeated in another case"] = caseDup(t, c.arg, top+n)
				bad["nested named in another case"] = recased(t, c.arg, top+n)
			}
			for name, arg := range bad {
				_, err := l.call(c.msp, c.fn, arg)
				if !errors.Is(err, ErrInvalid) || !(errors.Is(err, strictjson.ErrDuplicateKey) || errors.Is(err, strictjson.ErrFieldCase)) {
					t.Errorf("%s: %v\n%s", name, err, arg)
				}
			}
			l.must(t, c.msp, c.fn, c.arg)
		})
	}
}
