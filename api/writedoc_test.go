package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	vc "github.com/trustid-cn/trustid/credentials"
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
