package main

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	vc "github.com/trustid-cn/trustid/credentials"
)

// TestTypeMetadataOfIssuedCredentials: the vct of the SD-JWT VC the node
// issues at enrollment is a URL of the node (a collision-resistant name,
// as draft-ietf-oauth-sd-jwt-vc requires) that resolves, fetched as it
// is, to its Type Metadata: 200,
// valid (and valid against api/openapi.json, through TestMain's
// transport), for that vct, named in zh-CN and en, describing every claim
// the credential discloses as always selectively disclosable. The OID4VCI
// types are served too; a vct the node does not define is 404.
func TestTypeMetadataOfIssuedCredentials(t *testing.T) {
	f := newEnrollFixture(t)
	p := newPerson(t, "11010519900307123", "张三")
	code, r, m := f.enroll(f.enrollBody(p, "", "", nil))
	if code != 201 || r.IdentityCredential.Credential == "" {
		t.Fatalf("enroll: %d %v", code, m)
	}
	sdjwt := r.IdentityCredential.Credential
	claims := jwtPayload(t, sdjwt)
	vct, _ := claims["vct"].(string)
	iss, _ := claims["iss"].(string)
	if vct != f.base+"/vct/IdentityCredential" || iss != f.base {
		t.Fatalf("vct %q iss %q", vct, iss)
	}
	meta := getTypeMetadata(t, vct)
	if meta.VCT != vct {
		t.Errorf("metadata for vct %q, want %q", meta.VCT, vct)
	}
	var locales []string
	for _, d := range meta.Display {
		locales = append(locales, d.Locale)
	}
	if !slices.Contains(locales, "zh-CN") || !slices.Contains(locales, "en") {
		t.Errorf("display locales %v", locales)
	}
	described := map[string]vc.ClaimMetadata{}
	for _, c := range meta.Claims {
		described[strings.Join(c.Path, ".")] = c
	}
	// Every disclosure of the credential names a described claim.
	parts := strings.Split(sdjwt, "~")
	if len(parts) < 3 {
		t.Fatalf("no disclosures in %.60s", sdjwt)
	}
	for _, d := range parts[1 : len(parts)-1] {
		raw, err := base64.RawURLEncoding.DecodeString(d)
		var disclosure []any
		if err != nil || json.Unmarshal(raw, &disclosure) != nil || len(disclosure) != 3 {
			t.Fatalf("disclosure %q", d)
		}
		name, _ := disclosure[1].(string)
		if c, ok := described[name]; !ok || c.SD != vc.SDAlways || len(c.Display) < 2 {
			t.Errorf("claim %q of the credential: metadata %+v", name, c)
		}
	}

	// The OID4VCI type, and a vct the node does not define.
	if meta := getTypeMetadata(t, f.base+"/vct/ResidenceCredential"); meta.VCT != f.base+"/vct/ResidenceCredential" || len(meta.Claims) == 0 {
		t.Errorf("ResidenceCredential metadata %+v", meta)
	}
	if code, m, _ := f.do("GET", "/vct/NoSuchCredential", "", "", ""); code != 404 || m["error"] != "not_found" {
		t.Errorf("unknown vct: %d %v", code, m)
	}
}

func getTypeMetadata(t *testing.T, u string) vc.TypeMetadata {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var meta vc.TypeMetadata
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || dec.Decode(&meta) != nil {
		t.Fatalf("GET %s: %d %s %s", u, resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if err := meta.Check(); err != nil {
		t.Errorf("GET %s: %v", u, err)
	}
	return meta
}
