package api

import (
	"net/http/httptest"
	"strings"
	"testing"
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
		if req.DeviceKey != nil {
			req.DeviceKey.PublicKey()
		}
	})
}
