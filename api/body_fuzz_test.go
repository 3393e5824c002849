package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/qrcode/redeem"
)

// bodyDecoders decode a request body as each handler family does; each
// returns the decoded value.
var bodyDecoders = []struct {
	name string
	max  int
	dec  func(r *http.Request) (any, error)
}{
	{"enroll", maxEnrollBody, func(r *http.Request) (any, error) { return decodeEnroll(r) }},
	{"pin", maxPINBody, func(r *http.Request) (any, error) { return decodePINCheck(r) }},
	{"qr issue", maxQRBody, func(r *http.Request) (any, error) { var v qrcode.HolderRequest; return &v, decodeQRBody(r, &v) }},
	{"qr redeem", maxQRBody, func(r *http.Request) (any, error) { var v qrRedeemRequest; return &v, decodeQRBody(r, &v) }},
	{"qr peer", maxQRBody, func(r *http.Request) (any, error) { var v redeem.PeerRedeemRequest; return &v, decodeQRBody(r, &v) }},
	{"issue", maxCredentialBody, func(r *http.Request) (any, error) {
		var v issueRequest
		return &v, decodeBody(r, maxCredentialBody, &v, invalidRequest, "with credential and options")
	}},
	{"verify", maxCredentialBody, func(r *http.Request) (any, error) {
		var v verifyRequest
		err := decodeBody(r, maxCredentialBody, &v, invalidRequest, "with verifiableCredential and options")
		return verifyView(&v), err
	}},
	{"presentation", maxCredentialBody, func(r *http.Request) (any, error) {
		var v presentationRequest
		return &v, decodeBody(r, maxCredentialBody, &v, invalidRequest, "with verifiablePresentation and options")
	}},
	{"status", maxCredentialBody, func(r *http.Request) (any, error) {
		var v statusRequest
		return &v, decodeBody(r, maxCredentialBody, &v, invalidRequest, "with an action")
	}},
}

// bodyProblems are the endings of decodeBody's 400 messages; keyProblem
// those that name a member (a quoted key path, never a value).
var (
	bodyProblems = []string{
		"a member is repeated (names that differ only in case count as repeated)",
		"a member has the wrong type or value", "data after the object", "nested too deeply", "malformed JSON",
	}
	keyProblem = regexp.MustCompile(`: member ("(?:[^"\\]|\\.)*") (?:is not documented|differs in case from the documented name ("(?:[^"\\]|\\.)*"))$`)
)

// namesKeySafely reports whether msg ends in a keyProblem whose names
// are quoted printable ASCII of at most 40 bytes (and "...") each.
func namesKeySafely(msg string) bool {
	m := keyProblem.FindStringSubmatch(msg)
	if m == nil {
		return false
	}
	for _, q := range m[1:] {
		if q == "" {
			continue
		}
		k, err := strconv.Unquote(q)
		if err != nil || len(strings.TrimSuffix(k, "...")) > 40 || strconv.QuoteToASCII(k) != q {
			return false
		}
	}
	return true
}

// TestBodyNamesTheMember: an undocumented member, or one in the wrong
// case, is named (quoted, control characters escaped, truncated).
func TestBodyNamesTheMember(t *testing.T) {
	for body, want := range map[string]string{
		`{"code":"x","pinn":"135790"}`:                      `member "pinn" is not documented`,
		`{"Code":"x"}`:                                      `member "Code" differs in case from the documented name "code"`,
		`{"code":"x","a\u0000\u202eb":1}`:                   `member "a\x00\u202eb" is not documented`,
		`{"code":"x","` + strings.Repeat("k", 100) + `":1}`: `member "` + strings.Repeat("k", 40) + `..." is not documented`,
	} {
		var v qrRedeemRequest
		err := decodeQRBody(httptest.NewRequest("POST", "/", strings.NewReader(body)), &v)
		var ae *Error
		if !errors.As(err, &ae) || !strings.HasSuffix(ae.Message, ": "+want) || !namesKeySafely(ae.Message) || strings.Contains(ae.Message, "135790") {
			t.Errorf("%s: %v, want … %s", body, err, want)
		}
	}
}

// FuzzBodyDecoders: every handler family's body decoder, on any body,
// never panics; a refusal is a 400 invalid_request (413 when too large)
// whose message is made of fixed text only (never the body's content);
// what it accepts encodes and decodes back to itself.
func FuzzBodyDecoders(f *testing.F) {
	seeds := []string{
		`{"document":{"number":"11010519491231002X"},"name":"张三","device_key":{"kty":"EC","crv":"SM2","x":"AA","y":"AA"},"device_proof":"a.b.c","pin":"135790"}`,
		pinBody("eyJhbGciOiJTTTIifQ.eyJpc3N1ZXIiOiJkaWQ6d2ViOngifQ.AA", "a.b.c", "482916"),
		`{"binding":"gwE=","time":1750000000,"nonce":"MDEyMzQ1Njc4OWFiY2RlZg==","region":"310000","consent":["age_over_18"],"sig":"AA=="}`,
		`{"code":"TIDON1:6KG400LSNU6A3TBK"}`,
		`{"code":"TIDON1:00","client_id":"hotel-440000","sector":"hotel.example"}`,
		strings.Replace(strings.ReplaceAll(credBody, "\n", ""), "%s", `,"options":{"format":"vc+jwt","algorithm":"SM2","holderKey":{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}}`, 1),
		`{"verifiableCredential":{"@context":["https://www.w3.org/ns/credentials/v2"],"type":"EnvelopedVerifiableCredential","id":"data:application/vc+jwt,a.b.c"},"options":{"checks":["status"]}}`,
		`{"verifiablePresentation":"a.b.c~","options":{"challenge":"c","domain":"d"}}`,
		`{"action":"revoke"}`,
		`{"name":"A","NAME":"B"}`, `{"Action":"revoke"}`, `{"code":"x"} {}`,
	}
	for i, s := range seeds {
		f.Add(uint8(i), []byte(s))
	}
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		d := bodyDecoders[int(which)%len(bodyDecoders)]
		v, err := d.dec(httptest.NewRequest("POST", "/", bytes.NewReader(body)))
		if err != nil {
			var ae *Error
			if !errors.As(err, &ae) {
				t.Fatalf("%s: refusal is no *Error: %v", d.name, err)
			}
			switch {
			case ae.Status == 413 && ae.Code == CodeTooLarge:
			case ae.Status == 400 && ae.Code == CodeInvalidRequest:
				fixed := strings.HasPrefix(ae.Message, "body must be one JSON object ") && namesKeySafely(ae.Message)
				for _, p := range bodyProblems {
					fixed = fixed || strings.HasPrefix(ae.Message, "body must be one JSON object ") && strings.HasSuffix(ae.Message, ": "+p)
				}
				if !fixed {
					t.Fatalf("%s: message not of fixed text: %q", d.name, ae.Message)
				}
			default:
				t.Fatalf("%s: refusal %d %s", d.name, ae.Status, ae.Code)
			}
			return
		}
		once, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("%s: accepted value does not encode: %v", d.name, err)
		}
		if len(once) > d.max {
			return // escaping grew it past the limit
		}
		back, err := d.dec(httptest.NewRequest("POST", "/", bytes.NewReader(once)))
		if err != nil {
			t.Fatalf("%s: re-encoded body refused: %v\n%s", d.name, err, once)
		}
		if twice, _ := json.Marshal(back); !bytes.Equal(once, twice) {
			t.Fatalf("%s: not stable:\n%s\n%s", d.name, once, twice)
		}
	})
}

// TestReadAllDeclaredLength: readAll returns the whole body whatever
// length the request declared (none, the true one, less, more, over the
// limit), read through the one-byte-over limit decodeBody uses.
func TestReadAllDeclaredLength(t *testing.T) {
	const max = 1000
	for _, n := range []int{0, 1, 511, 512, 513, 999, 1000, 1001, 5000} {
		body := bytes.Repeat([]byte{'x'}, n)
		for _, declared := range []int64{-1, 0, int64(n), int64(n) - 1, int64(n) + 5, max + 10} {
			got, err := readAll(io.LimitReader(iotest.HalfReader(bytes.NewReader(body)), max+1), declared, max)
			if err != nil || !bytes.Equal(got, body[:min(n, max+1)]) {
				t.Fatalf("%d bytes declared %d: %d bytes, %v", n, declared, len(got), err)
			}
		}
	}
	want := errors.New("broken")
	if _, err := readAll(iotest.ErrReader(want), 10, max); !errors.Is(err, want) {
		t.Fatalf("read error: %v", err)
	}
	// A declared length is not memory taken before the bytes arrive.
	if got, err := readAll(bytes.NewReader(nil), 1<<20, 1<<20); err != nil || cap(got) > readAllFirst+1 {
		t.Fatalf("1 MiB declared, nothing sent: a buffer of %d bytes, %v", cap(got), err)
	}
}

// verifyView is a decoded verify body as JSON can show it: the
// verifiableCredential member as credentialInput read it (a token string,
// an object, or its error's message), the credentialId member's string
// ("" for another value), and the credential's JSON kept for Data
// Integrity (in raw, which a body may not have).
func verifyView(v *verifyRequest) any {
	var member any
	if v.VerifiableCredential.set {
		in, err := v.VerifiableCredential.input()
		member = in
		if err != nil {
			member = err.Error()
		}
	}
	var id *string // the credentialId member's string, when it is there
	if v.CredentialID.set {
		id = &v.CredentialID.id
	}
	return struct {
		VerifiableCredential any                     `json:"verifiableCredential,omitempty"`
		CredentialID         *string                 `json:"credentialId,omitempty"`
		Options              credentialVerifyOptions `json:"options"`
	}{member, id, v.Options}
}

// verifyRequestOld is verifyRequest as it was before the member was
// decoded in place: its JSON copied out, then read by credentialInput.
type verifyRequestOld struct {
	VerifiableCredential json.RawMessage         `json:"verifiableCredential"`
	CredentialID         json.RawMessage         `json:"credentialId"`
	Options              credentialVerifyOptions `json:"options"`
}

// FuzzCredentialMemberMatchesRawMessage: a verify body decoded with the
// verifiableCredential member read in place gives what the old path gave
// (the member copied as a json.RawMessage, then credentialInput): the
// same refusal, or the same input (sameInput: an enveloped credential of
// the usual shape may be its id) or error, and the member's JSON for a
// credential with an embedded proof (nil for any other).
func FuzzCredentialMemberMatchesRawMessage(f *testing.F) {
	for _, s := range []string{
		`{"verifiableCredential":{"@context":["https://www.w3.org/ns/credentials/v2"],"type":"EnvelopedVerifiableCredential","id":"data:application/vc+jwt,a.b.c"},"options":{"checks":["status"]}}`,
		`{"verifiableCredential":{"@context":["https://www.w3.org/ns/credentials/v2"],"proof":{"proofValue":"z3abc"}},"credentialId":"urn:x"}`,
		`{"verifiableCredential":"a.b.c"}`, `{"verifiableCredential":null}`, `{"verifiableCredential": "x\u0041"}`,
		`{"verifiableCredential":5}`, `{"verifiableCredential":[]}`, `{"verifiableCredential":{"a":1,"a":2}}`,
		`{"verifiableCredential":{"proof":null}}`, `{"options":{}}`, `{"verifiableCredential":7,"x":1}`, `{}`, `[]`,
		`{"verifiableCredential":{"proof":1},"VerifiableCredential":2}`,
		`{"credentialId":"urn:x","verifiableCredential":{"@context":["https://www.w3.org/ns/credentials/v2"],"id":"data:application/vc+jwt,a.b.c","type":"EnvelopedVerifiableCredential"}}`,
		`{"verifiableCredential":{"@context":["https://www.w3.org/ns/credentials/v2"],"id":"data:application/vc+jwt,a\u002eb.c","type":"EnvelopedVerifiableCredential"}}`,
		`{"verifiableCredential":{"@context":["https://www.w3.org/ns/credentials/v2"],"id":"data:application/vc+jwt,a.b.c","type":"EnvelopedVerifiableCredential","x":1}}`,
		`{"verifiableCredential":{"@context":["https://www.w3.org/ns/credentials/v2"],"type":"EnvelopedVerifiableCredential","id":"data:application/vc+cose;base64,AAAA"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var now verifyRequest
		errNow := decodeBody(httptest.NewRequest("POST", "/", bytes.NewReader(body)), maxCredentialBody, &now, invalidRequest, "with verifiableCredential and options")
		var old verifyRequestOld
		errOld := decodeBody(httptest.NewRequest("POST", "/", bytes.NewReader(body)), maxCredentialBody, &old, invalidRequest, "with verifiableCredential and options")
		if (errNow == nil) != (errOld == nil) || errNow != nil && errNow.Error() != errOld.Error() {
			t.Fatalf("body: %v; old: %v", errNow, errOld)
		}
		if errNow != nil {
			return
		}
		in, err := now.VerifiableCredential.input()
		inOld, errOld := credentialInput(old.VerifiableCredential, "verifiableCredential")
		if !sameInput(in, inOld) || fmt.Sprint(err) != fmt.Sprint(errOld) || !reflect.DeepEqual(err, errOld) {
			t.Fatalf("input %#v, %v; old %#v, %v", in, err, inOld, errOld)
		}
		var wantRaw []byte
		if m, ok := inOld.(map[string]any); ok {
			if _, hasProof := m["proof"]; hasProof {
				wantRaw = old.VerifiableCredential
			}
		}
		if !bytes.Equal(now.VerifiableCredential.raw, wantRaw) || (now.VerifiableCredential.raw == nil) != (wantRaw == nil) {
			t.Fatalf("raw %q, old %q", now.VerifiableCredential.raw, wantRaw)
		}
		if now.CredentialID.set != (old.CredentialID != nil) || now.CredentialID.id != jsonString(old.CredentialID) || !reflect.DeepEqual(now.Options, old.Options) {
			t.Fatal("the other members differ")
		}
	})
}

// sameInput reports whether a verifiableCredential member's input now is
// the one the old path gave (old), or the id of old, an enveloped
// credential of the usual shape, which VerifyToken reads as it reads old:
// old is exactly the v2 @context, that id and EnvelopedVerifiableCredential,
// the id is a data: URL of a credential's media type, and unenveloping old
// gives what parsing the id gives.
func sameInput(now, old any) bool {
	if reflect.DeepEqual(now, old) {
		return true
	}
	id, isID := now.(string)
	env, isEnvelope := old.(map[string]any)
	want := map[string]any{"@context": []any{vc.ContextV2}, "id": id, "type": vc.TypeEnvelopedCredential}
	if !isID || !isEnvelope || !strings.HasPrefix(id, "data:application/vc+") || !reflect.DeepEqual(env, want) {
		return false
	}
	mt, token, err := vc.Unenvelope(env)
	mtID, tokenID, errID := vc.ParseDataURL(id)
	return mt == mtID && token == tokenID && fmt.Sprint(err) == fmt.Sprint(errID)
}

// FuzzJSONString: for a verify body's credentialId, jsonString gives what
// json.Unmarshal into a string gave ("" for what it refused).
func FuzzJSONString(f *testing.F) {
	for _, s := range []string{`"urn:uuid:1"`, `""`, `"a\u0041\"b"`, `"\\"`, `null`, `5`, `[]`, `{"a":"b"}`, `"é中"`, `true`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		var req verifyRequestOld
		if decodeBody(httptest.NewRequest("POST", "/", strings.NewReader(`{"credentialId":`+v+`}`)), maxCredentialBody, &req, invalidRequest, "x") != nil {
			return
		}
		var want string
		if json.Unmarshal(req.CredentialID, &want) != nil {
			want = ""
		}
		if got := jsonString(req.CredentialID); got != want {
			t.Fatalf("%q: %q, json.Unmarshal %q", req.CredentialID, got, want)
		}
	})
}
