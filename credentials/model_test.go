package credentials

import (
	"errors"
	"strings"
	"testing"
)

func TestParseCredentialValid(t *testing.T) {
	doc := `{
	  "@context": ["https://www.w3.org/ns/credentials/v2", "https://www.w3.org/ns/credentials/examples/v2", {"extra": "https://example.org/extra#"}],
	  "id": "http://university.example/credentials/3732",
	  "type": ["VerifiableCredential", "ExampleDegreeCredential"],
	  "issuer": {"id": "did:example:76e12ec712ebc6f1c221ebfeb1f", "name": "Example University"},
	  "name": [{"@value": "Degree", "@language": "en"}, {"@value": "学位", "@language": "zh"}],
	  "validFrom": "2010-01-01T19:23:24Z",
	  "validUntil": "2030-01-01T19:23:24.5+08:00",
	  "credentialSubject": [{"id": "did:example:ebfeb1f712ebc6f1c276e12ec21", "degree": {"type": "ExampleBachelorDegree"}}],
	  "credentialSchema": {"id": "https://example.org/examples/degree.json", "type": "JsonSchema"},
	  "credentialStatus": {"id": "https://example.com/status/3#94567", "type": "BitstringStatusListEntry", "statusPurpose": "revocation", "statusListIndex": "94567", "statusListCredential": "https://example.com/status/3"},
	  "evidence": [{"id": "https://example.edu/evidence/f2aeec97", "type": ["Evidence"]}],
	  "termsOfUse": {"type": "TrustFrameworkPolicy", "trustFramework": "Employment"},
	  "relatedResource": [{"id": "https://www.w3.org/ns/credentials/v2", "digestSRI": "sha384-abc"}]
	}`
	c, err := ParseCredential([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if c.Issuer != "did:example:76e12ec712ebc6f1c221ebfeb1f" || len(c.Subjects) != 1 || len(c.Status) != 1 || c.Status[0].Index != 94567 {
		t.Fatalf("%+v", c)
	}
	if c.ValidUntil.Unix() != 1893497004 {
		t.Fatalf("validUntil %v", c.ValidUntil)
	}
	if ctx := c.Map()["@context"].([]any); ctx[1] != "https://www.w3.org/ns/credentials/examples/v2" {
		t.Fatal("@context order lost")
	}
}

func TestParseCredentialInvalid(t *testing.T) {
	base := `"type":["VerifiableCredential"],"issuer":"did:example:1","credentialSubject":{"id":"did:example:2"}`
	ctx := `"@context":["https://www.w3.org/ns/credentials/v2"]`
	cases := []struct {
		name, doc string
		want      error
	}{
		{"duplicate key", `{` + ctx + `,` + base + `,"issuer":"did:example:3"}`, ErrDuplicateKey},
		{"key repeated in another case", `{` + ctx + `,` + base + `,"Issuer":"did:example:3"}`, ErrDuplicateKey},
		{"nested key repeated in another case", `{` + ctx + `,` + strings.Replace(base, `{"id":"did:example:2"}`, `{"id":"did:example:2","ID":"did:example:3"}`, 1) + `}`, ErrDuplicateKey},
		{"trailing data", `{` + ctx + `,` + base + `} {}`, ErrTrailingData},
		{"oversized", `{` + ctx + `,` + base + `,"x":"` + strings.Repeat("a", MaxDocument) + `"}`, ErrTooLarge},
		{"not an object", `[1]`, ErrMalformed},
		{"no context", `{` + base + `}`, ErrInvalid},
		{"context string not v2", `{"@context":"https://www.w3.org/2018/credentials/v1",` + base + `}`, ErrInvalid},
		{"context v1 first", `{"@context":["https://www.w3.org/2018/credentials/v1","https://www.w3.org/ns/credentials/v2"],` + base + `}`, ErrInvalid},
		{"context item not URL", `{"@context":["https://www.w3.org/ns/credentials/v2","not a url"],` + base + `}`, ErrInvalid},
		{"no VC type", `{` + ctx + `,"type":["Other"],"issuer":"did:example:1","credentialSubject":{"id":"did:example:2"}}`, ErrInvalid},
		{"no issuer", `{` + ctx + `,"type":["VerifiableCredential"],"credentialSubject":{"id":"did:example:2"}}`, ErrInvalid},
		{"issuer object without id", `{` + ctx + `,"type":["VerifiableCredential"],"issuer":{"name":"x"},"credentialSubject":{"a":1}}`, ErrInvalid},
		{"issuer not URL", `{` + ctx + `,"type":["VerifiableCredential"],"issuer":"issuer","credentialSubject":{"a":1}}`, ErrInvalid},
		{"empty subject", `{` + ctx + `,"type":["VerifiableCredential"],"issuer":"did:example:1","credentialSubject":{}}`, ErrInvalid},
		{"subject string", `{` + ctx + `,"type":["VerifiableCredential"],"issuer":"did:example:1","credentialSubject":"x"}`, ErrInvalid},
		{"validFrom no zone", `{` + ctx + `,` + base + `,"validFrom":"2026-01-01T00:00:00"}`, ErrInvalid},
		{"validFrom date only", `{` + ctx + `,` + base + `,"validFrom":"2026-01-01"}`, ErrInvalid},
		{"validUntil before validFrom", `{` + ctx + `,` + base + `,"validFrom":"2026-01-02T00:00:00Z","validUntil":"2026-01-01T00:00:00Z"}`, ErrInvalid},
		{"id not URL", `{` + ctx + `,` + base + `,"id":"abc"}`, ErrInvalid},
		{"schema without id", `{` + ctx + `,` + base + `,"credentialSchema":{"type":"JsonSchema"}}`, ErrInvalid},
		{"status without type", `{` + ctx + `,` + base + `,"credentialStatus":{"id":"https://x.example/1"}}`, ErrInvalid},
		{"status index number", `{` + ctx + `,` + base + `,"credentialStatus":{"type":"BitstringStatusListEntry","statusPurpose":"revocation","statusListIndex":5,"statusListCredential":"https://x.example/s"}}`, ErrInvalid},
		{"status index leading zero", `{` + ctx + `,` + base + `,"credentialStatus":{"type":"BitstringStatusListEntry","statusPurpose":"revocation","statusListIndex":"05","statusListCredential":"https://x.example/s"}}`, ErrInvalid},
		{"evidence without type", `{` + ctx + `,` + base + `,"evidence":[{"id":"https://x.example/e"}]}`, ErrInvalid},
		{"terms without type", `{` + ctx + `,` + base + `,"termsOfUse":{"x":1}}`, ErrInvalid},
		{"related without digest", `{` + ctx + `,` + base + `,"relatedResource":[{"id":"https://x.example/r"}]}`, ErrInvalid},
		{"related repeated", `{` + ctx + `,` + base + `,"relatedResource":[{"id":"https://x.example/r","digestSRI":"a"},{"id":"https://x.example/r","digestSRI":"b"}]}`, ErrInvalid},
		{"name not language value", `{` + ctx + `,` + base + `,"name":{"x":1}}`, ErrInvalid},
		{"enveloped type", `{` + ctx + `,"type":["VerifiableCredential","EnvelopedVerifiableCredential"],"issuer":"did:example:1","credentialSubject":{"a":1}}`, ErrInvalid},
	}
	for _, c := range cases {
		if _, err := ParseCredential([]byte(c.doc)); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// Every strict-JSON error is also ErrMalformed.
	if _, err := ParseCredential([]byte(`{"a":1,"a":1}`)); !errors.Is(err, ErrMalformed) {
		t.Errorf("duplicate key is not ErrMalformed: %v", err)
	}
}

func TestPresentationModel(t *testing.T) {
	ok := map[string]any{"@context": []any{ContextV2}, "type": "VerifiablePresentation", "holder": "did:example:h",
		"verifiableCredential": []any{Envelope("a.b.c", MediaTypeVCJWT)}}
	if _, err := NewPresentation(ok); err != nil {
		t.Fatal(err)
	}
	bad := map[string]any{"@context": []any{ContextV2}, "type": "VerifiableCredential"}
	if _, err := NewPresentation(bad); !errors.Is(err, ErrInvalidPresentation) {
		t.Fatalf("%v", err)
	}
}

func TestBundledContext(t *testing.T) {
	doc, err := Context(ContextV2)
	if err != nil || !strings.Contains(string(doc), "BitstringStatusListEntry") {
		t.Fatalf("v2 context: %v", err)
	}
	if _, err := Context("https://evil.example/context"); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("unknown context: %v", err)
	}
}

func FuzzParseCredential(f *testing.F) {
	f.Add([]byte(`{"@context":["https://www.w3.org/ns/credentials/v2"],"type":["VerifiableCredential"],"issuer":"did:example:1","credentialSubject":{"id":"did:example:2"},"validFrom":"2026-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"@context":["https://www.w3.org/ns/credentials/v2"],"type":"VerifiableCredential","issuer":{"id":"https://x.example"},"credentialSubject":[{"a":[1,{"b":null}]}],"credentialStatus":{"type":"BitstringStatusListEntry","statusPurpose":"revocation","statusListIndex":"1","statusListCredential":"https://x.example/s"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseCredential(data)
		if err == nil && (c.Issuer == "" || len(c.Subjects) == 0) {
			t.Fatal("accepted a credential without issuer or subject")
		}
	})
}

func TestDateTimeStamp(t *testing.T) {
	good := []string{"2026-01-01T00:00:00Z", "2010-01-01T19:23:24.123456789+08:00", "1999-12-31T23:59:59-14:00", "2026-02-28T12:00:00.5Z"}
	bad := []string{"2026-01-01T00:00:00", "2026-01-01", "2026-13-01T00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T00:60:00Z",
		"2026-01-01T00:00:00+15:00", "2026-01-01T00:00:00.Z", "2026-1-01T00:00:00Z", "0000-01-01T00:00:00Z", "2026-01-01t00:00:00Z",
		"2026-02-30T00:00:00Z", "2026-01-01T00:00:00+0800", " 2026-01-01T00:00:00Z"}
	for _, s := range good {
		if _, err := dateTimeStamp(s); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	for _, s := range bad {
		if _, err := dateTimeStamp(s); err == nil {
			t.Errorf("%s accepted", s)
		}
	}
}

// TestHTTPScheme: httpScheme says what strings.EqualFold against http
// and https says, for every string of up to five of the characters a
// scheme may hold that could fold to them, or be near them.
func TestHTTPScheme(t *testing.T) {
	const alphabet = "hHtTpPsSxX0+-.\x08\x14\x10\x13"
	var walk func(s string)
	walk = func(s string) {
		want := strings.EqualFold(s, "http") || strings.EqualFold(s, "https")
		if got := httpScheme(s); got != want {
			t.Fatalf("httpScheme(%q) = %v, strings.EqualFold says %v", s, got, want)
		}
		if len(s) == 5 {
			return
		}
		for i := range len(alphabet) {
			walk(s + alphabet[i:i+1])
		}
	}
	walk("")
	for _, s := range []string{"httpſ", "HTTPS", "hTtP", "https1", "htt"} {
		want := strings.EqualFold(s, "http") || strings.EqualFold(s, "https")
		if s == "httpſ" {
			want = false // not a scheme: URLString refuses it before asking
		}
		if got := httpScheme(s); got != want {
			t.Errorf("httpScheme(%q) = %v, want %v", s, got, want)
		}
	}
}
