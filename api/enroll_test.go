package api

import (
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzEnrollRequest: the request decoder never panics and never accepts a
// body with unknown fields (document parsing: enrollment.FuzzParseDocument).
func FuzzEnrollRequest(f *testing.F) {
	for _, s := range []string{
		`{"document":{"number":"11010519491231002X"},"name":"张三"}`,
		`{"document":{"type":"resident_id","number":"11010519491231002X"},"name":"x","pin":"135790"}`,
		`{"document":{"mrz":["P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<","L898902C36UTO7408122F1204159ZE184226B<<<<<10"]},"name":"A"}`,
		`{"document":{"number":"1"},"device_key":{"kty":"EC","crv":"SM2","x":"","y":""},"device_proof":"a.b.c"}`,
		`{"a":1}`, `[]`, `{"name":"x","name":"y"}`,
		// Names as text arrives: escaped pairs and lone surrogates,
		// invalid UTF-8, NFD, look-alike dots, controls.
		`{"document":{"number":"11010519491231002X"},"name":"\ud840\udc00\ud869\udea5"}`,
		`{"document":{"number":"11010519491231002X"},"name":"\ud800"}`,
		`{"document":{"number":"11010519491231002X"},"name":"张\udc00三"}`,
		"{\"document\":{\"number\":\"11010519491231002X\"},\"name\":\"\xff\xfe\"}",
		`{"document":{"number":"11010519491231002X"},"name":"Mu\u0308ller"}`,
		`{"document":{"number":"11010519491231002X"},"name":"阿卜杜热合曼\u30fb买买提"}`,
		`{"document":{"number":"11010519491231002X"},"name":"张\u202e三\u2028\u0000"}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest("POST", EnrollPath, strings.NewReader(body))
		req, err := decodeEnroll(r)
		if err != nil {
			return
		}
		if strings.Contains(body, `"extra_field"`) {
			t.Fatalf("unknown field accepted: %s", body)
		}
		if !utf8.ValidString(req.Name) {
			t.Fatalf("a name that is not UTF-8 decoded: %q", req.Name)
		}
		if req.DeviceKey != nil {
			req.DeviceKey.PublicKey()
		}
	})
}
