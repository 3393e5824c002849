package enrollment

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/trustid-cn/trustid/identity"
)

// FuzzParseDocument: document parsing never panics, and every refusal is
// a request error or an identity error with a code.
func FuzzParseDocument(f *testing.F) {
	for _, s := range []string{
		`{"number":"11010519491231002X"}`,
		`{"type":"resident_id","number":"11010519491231002X"}`,
		`{"mrz":["P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<","L898902C36UTO7408122F1204159ZE184226B<<<<<10"]}`,
		`{"number":"1"}`, `{"type":"passport","number":"E12345678"}`, `{"mrz":["a"]}`, `{}`,
	} {
		f.Add(s)
	}
	s := &Service{cfg: Config{Documents: &identity.Validator{}}}
	f.Fuzz(func(t *testing.T, body string) {
		var d Document
		if json.Unmarshal([]byte(body), &d) != nil {
			return
		}
		if _, err := s.ParseDocument(d); err != nil {
			var re *RequestError
			var ee *EvidenceError
			if !errors.As(err, &re) && !errors.As(err, &ee) {
				t.Fatalf("document error of no kind: %v", err)
			}
			if ee != nil {
				if _, ok := identity.CodeOf(ee.Err); !ok {
					t.Fatalf("evidence error without a code: %v", err)
				}
			}
		}
	})
}
