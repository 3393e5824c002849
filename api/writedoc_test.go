package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/trustid-cn/trustid/auth"
	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/internal/strictjson"
	"github.com/trustid-cn/trustid/qrcode/redeem"
)

// TestWriteDocMatchesWriteJSON: writeDocStatus sends the bytes and
// headers writeJSONStatus sends, for issuance answers (an envelope, a
// credential ID) and for a document as json.Unmarshal makes it, with
// characters encoding/json escapes or would escape for HTML.
func TestWriteDocMatchesWriteJSON(t *testing.T) {
	var decoded map[string]any
	if err := json.Unmarshal([]byte(`{"@context":["https://www.w3.org/ns/credentials/v2"],"n":1.5e300,"m":-0,"i":12,
		"s":"<a href=\"x\">&amp;</a>\u2028\u0001\t","b":true,"z":null,"o":{"é":["ü",2,{"k":[]}]}}`), &decoded); err != nil {
		t.Fatal(err)
	}
	for name, doc := range map[string]map[string]any{
		"vc+jwt":   {"verifiableCredential": vc.Envelope("eyJhbGciOiJTTTIifQ.e30.c2ln", vc.MediaTypeVCJWT), "credentialId": "urn:trustid:abc<&>"},
		"embedded": {"verifiableCredential": decoded},
		"empty":    {},
	} {
		a, b := httptest.NewRecorder(), httptest.NewRecorder()
		writeJSONStatus(a, http.StatusCreated, doc)
		writeDocStatus(b, http.StatusCreated, doc)
		if a.Code != b.Code || !bytes.Equal(a.Body.Bytes(), b.Body.Bytes()) {
			t.Errorf("%s: %d %s\nwant %d %s", name, b.Code, b.Body, a.Code, a.Body)
		}
		for _, h := range []string{"Content-Type", "Cache-Control"} {
			if a.Header().Get(h) != b.Header().Get(h) {
				t.Errorf("%s: %s %q, want %q", name, h, b.Header().Get(h), a.Header().Get(h))
			}
		}
	}
}

// FuzzWriteDocMatchesWriteJSON: for any document json.Unmarshal makes,
// and any key and string (invalid UTF-8, control and HTML characters,
// U+2028) put in one, writeDocStatus sends writeJSONStatus's bytes.
func FuzzWriteDocMatchesWriteJSON(f *testing.F) {
	f.Add([]byte(`{"a":[1,2.5e-7,"<&>\u2029"],"b":{"":null}}`), "k\xff\x00", "v\u2028\xc3\x28</script>")
	f.Add([]byte(`{}`), "\x7f", "\ufffd\xed\xa0\x80")
	f.Add([]byte(`{"n":1e21,"m":123456789012345678901234567890}`), "\b\f", "\\\"")
	f.Fuzz(func(t *testing.T, raw []byte, k, v string) {
		var doc map[string]any
		if json.Unmarshal(raw, &doc) != nil || doc == nil {
			doc = map[string]any{}
		}
		doc[k] = v
		doc[v] = []any{k, map[string]any{k: v}}
		a, b := httptest.NewRecorder(), httptest.NewRecorder()
		writeJSONStatus(a, http.StatusCreated, doc)
		writeDocStatus(b, http.StatusCreated, doc)
		if !bytes.Equal(a.Body.Bytes(), b.Body.Bytes()) {
			t.Fatalf("writeDocStatus %q\nwriteJSONStatus %q", b.Body, a.Body)
		}
	})
}

// FuzzWriteVerifyMatchesWriteJSON: for any single-credential verification
// answer (a credential document as json.Unmarshal makes it, strings with
// characters encoding/json escapes, members empty or not),
// writeVerifyStatus sends writeJSONStatus's bytes.
func FuzzWriteVerifyMatchesWriteJSON(f *testing.F) {
	f.Add([]byte(`{"@context":["https://www.w3.org/ns/credentials/v2"],"n":1.5e300,"o":{"é":["<&>",null]}}`), "vc+jwt", "did:web:x\u2028", "signature", "code\xff", "msg<&>", uint8(0xff))
	f.Add([]byte(`{}`), "", "", "", "", "", uint8(0))
	f.Add([]byte(`{"@context":["https://www.w3.org/ns/credentials/v2"],"credentialSubject":{"id":"did:example:1","n":1.50},"type":["VerifiableCredential","X<&>"]}`), "vc+jwt", "did:web:x", "status", "", "", uint8(0x15))
	f.Add([]byte(`null`), "dc+sd-jwt", "\x00", "\"", "\\", "\t", uint8(0x55))
	f.Fuzz(func(t *testing.T, raw []byte, format, issuer, check, code, msg string, bits uint8) {
		var cred map[string]any
		json.Unmarshal(raw, &cred)
		r := &verifyResponse{Verified: bits&1 != 0, Format: format, Issuer: issuer, Credential: cred}
		// A credential as the verifier gives it: decoded strictly, with
		// its bytes when they are Marshal's encoding.
		if m, canonical, err := strictjson.ObjectCanonical(raw, 1<<16); err == nil && canonical {
			r.Credential, r.CredentialJSON = m, raw
		}
		if bits&2 != 0 {
			r.Holder = issuer + check
		}
		if bits&4 != 0 {
			r.Checks = []string{check, "status"}
		} else if bits&8 != 0 {
			r.Checks = []string{}
		}
		if bits&16 != 0 {
			r.Warnings = []verifyProblem{{Code: code, Message: msg}, {}}
		} else if bits&32 != 0 {
			r.Warnings = []verifyProblem{}
		}
		if bits&64 != 0 {
			r.Errors = []verifyProblem{{Code: msg, Message: code}}
		}
		if bits&128 != 0 {
			r.RelatedResources = []relatedOutcome{{ID: code, Status: msg, Fetched: bits&1 == 0}, {ID: issuer}}
		}
		for _, status := range []int{http.StatusOK, http.StatusBadRequest} {
			a, b := httptest.NewRecorder(), httptest.NewRecorder()
			writeJSONStatus(a, status, r)
			writeVerifyStatus(b, status, r)
			if a.Code != b.Code || !bytes.Equal(a.Body.Bytes(), b.Body.Bytes()) {
				t.Fatalf("writeVerifyStatus %d %q\nwriteJSONStatus %d %q", b.Code, b.Body, a.Code, a.Body)
			}
			for _, h := range []string{"Content-Type", "Cache-Control"} {
				if a.Header().Get(h) != b.Header().Get(h) {
					t.Fatalf("%s %q, want %q", h, b.Header().Get(h), a.Header().Get(h))
				}
			}
		}
	})
}

// FuzzWriteRedemptionMatchesWriteJSON: writeRedemption sends writeJSON's
// bytes for any redemption (claims or none, delegated or not, strings
// with characters encoding/json escapes).
func FuzzWriteRedemptionMatchesWriteJSON(f *testing.F) {
	f.Add("pw-1", 3, "310000", "age_over_18", "true", "guardian<&>", uint8(0xff))
	f.Add("", 0, "", "", "", "", uint8(0))
	f.Add("\xff\u2028", -1, "\x00\"", "k\\", "v\t", "act", uint8(0x0a))
	f.Fuzz(func(t *testing.T, pid string, level int, region, k, v, rel string, bits uint8) {
		red := &redeem.Redemption{PairwiseID: pid, Assurance: level, Region: region}
		if bits&1 != 0 {
			red.Claims = map[string]string{k: v, v + "x": k, "name": rel}
		} else if bits&2 != 0 {
			red.Claims = map[string]string{}
		}
		if bits&4 != 0 {
			red.Act = &redeem.Actor{PairwiseID: v, Relationship: rel}
		}
		if bits&8 != 0 {
			red.Action = rel
		}
		a, b := httptest.NewRecorder(), httptest.NewRecorder()
		writeJSON(a, red)
		writeRedemption(b, red)
		if a.Code != b.Code || !bytes.Equal(a.Body.Bytes(), b.Body.Bytes()) {
			t.Fatalf("writeRedemption %d %q\nwriteJSON %d %q", b.Code, b.Body, a.Code, a.Body)
		}
		for _, h := range []string{"Content-Type", "Cache-Control"} {
			if a.Header().Get(h) != b.Header().Get(h) {
				t.Fatalf("%s %q, want %q", h, b.Header().Get(h), a.Header().Get(h))
			}
		}
	})
}

// FuzzWriteIntrospectionMatchesWriteJSON: writeIntrospection sends
// writeJSON's bytes for any introspection answer (active or not, members
// empty or not, negative times, strings with characters encoding/json
// escapes).
func FuzzWriteIntrospectionMatchesWriteJSON(f *testing.F) {
	f.Add(true, "registry:read openid", "rs-1", "Bearer", int64(1764900000), int64(1764899000), "sub<&>", "https://node.example", "jti\u2028", uint16(0xffff))
	f.Add(false, "", "", "", int64(0), int64(0), "", "", "", uint16(0))
	f.Add(true, "\xff\x00", "\"", "\t", int64(-1), int64(-9223372036854775808), "\u2029", "</script>", "\\", uint16(0x155))
	f.Fuzz(func(t *testing.T, active bool, scope, client, typ string, exp, iat int64, sub, iss, jti string, bits uint16) {
		res := &auth.Introspection{Active: active, Exp: exp, Iat: iat}
		for i, p := range []struct {
			dst *string
			v   string
		}{{&res.Scope, scope}, {&res.ClientID, client}, {&res.TokenType, typ}, {&res.Sub, sub}, {&res.Aud, iss + sub}, {&res.Iss, iss}, {&res.Jti, jti}} {
			if bits&(1<<i) != 0 {
				*p.dst = p.v
			}
		}
		a, b := httptest.NewRecorder(), httptest.NewRecorder()
		writeJSON(a, res)
		writeIntrospection(b, res)
		if a.Code != b.Code || !bytes.Equal(a.Body.Bytes(), b.Body.Bytes()) {
			t.Fatalf("writeIntrospection %d %q\nwriteJSON %d %q", b.Code, b.Body, a.Code, a.Body)
		}
		for _, h := range []string{"Content-Type", "Cache-Control"} {
			if a.Header().Get(h) != b.Header().Get(h) {
				t.Fatalf("%s %q, want %q", h, b.Header().Get(h), a.Header().Get(h))
			}
		}
	})
}

// TestHandWrittenAnswersKnowEveryField: the answers writeVerifyStatus,
// writeRedemption and writeIntrospection encode by hand have exactly the
// members those writers know (a field added to one of the structs must be
// added to its writer, or its answers would leave it out while the fuzz
// targets, which fill the fields they know, still pass).
func TestHandWrittenAnswersKnowEveryField(t *testing.T) {
	for _, c := range []struct {
		v    any
		want string
	}{
		// Credentials, Presentation and Proofs send the answer through
		// writeJSONStatus.
		{verifyResponse{}, "verified format issuer holder credential credentials presentation checks warnings errors relatedResources proofs -"},
		{verifyProblem{}, "code message"},
		{relatedOutcome{}, "id status fetched"},
		{redeem.Redemption{}, "pairwise_id assurance_level region claims act action"},
		{redeem.Actor{}, "pairwise_id relationship"},
		{auth.Introspection{}, "active scope client_id token_type exp iat sub aud iss jti"},
	} {
		typ := reflect.TypeOf(c.v)
		var got []string
		for i := range typ.NumField() {
			name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
			got = append(got, name)
		}
		if strings.Join(got, " ") != c.want {
			t.Errorf("%v has members %q; its hand-written encoder knows %q", typ, strings.Join(got, " "), c.want)
		}
	}
}
