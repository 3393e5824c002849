package accessclaims

import (
	"encoding/json"
	"testing"
	"time"
)

func TestClaimsJSON(t *testing.T) {
	c := Claims{Issuer: "https://x", Subject: "a", Audience: Audience{"https://x"}, Expires: New(time.Unix(1800000000, 0)),
		IssuedAt: New(time.Unix(1799999400, 0)), ID: "j", ClientID: "a", Scope: "qr:redeem"}
	b, _ := json.Marshal(&c)
	want := `{"iss":"https://x","sub":"a","aud":"https://x","exp":1800000000,"iat":1799999400,"jti":"j","client_id":"a","scope":"qr:redeem"}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	var back Claims
	if err := json.Unmarshal(b, &back); err != nil || back.Expires.Time().Unix() != 1800000000 || back.NotBefore.Set() || len(back.Audience) != 1 {
		t.Errorf("round trip: %+v %v", back, err)
	}
	for doc, ok := range map[string]bool{
		`{"aud":["a","b"],"exp":1}`: true,
		`{"aud":"a","nbf":null}`:    true,
		`{"exp":1.5}`:               false,
		`{"exp":"1"}`:               false,
		`{"exp":-1}`:                false,
		`{"exp":1e3}`:               false,
		`{"exp":99999999999999999}`: false,
		`{"aud":7}`:                 false,
		`{"aud":["a",1]}`:           false,
		`{"aud":"\u0061"}`:          true,
		`{"aud":""}`:                true,
		`{"aud":"a\"b"}`:            true,
		"{\"aud\":\"a\xffb\"}":      true,
		`{"iat":9223372036}`:        true,
		`{"iat":92233720369}`:       false,
	} {
		var c Claims
		if err := json.Unmarshal([]byte(doc), &c); (err == nil) != ok {
			t.Errorf("%s: %v", doc, err)
		}
	}
	for doc, want := range map[string]string{`{"aud":"https://x"}`: "https://x", `{"aud":"\u0061/"}`: "a/", `{"aud":"a\"b"}`: `a"b`, "{\"aud\":\"a\xffb\"}": "a\uFFFDb", `{"aud":""}`: ""} {
		var c Claims
		if err := json.Unmarshal([]byte(doc), &c); err != nil || len(c.Audience) != 1 || c.Audience[0] != want {
			t.Errorf("%s: %q %v, want %q", doc, c.Audience, err, want)
		}
	}
	if d, _ := (&Claims{}).GetExpirationTime(); d != nil {
		t.Error("absent exp is not nil")
	}
}
