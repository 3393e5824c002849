package api

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/gm"
)

// issueWithRelated issues a vc+jwt listing related (relatedResource
// entries) and returns the verify request's verifiableCredential JSON.
func (e *vcEnv) issueWithRelated(t *testing.T, related []map[string]any) string {
	t.Helper()
	cred := map[string]any{"@context": []any{vc.ContextV2}, "type": []any{"VerifiableCredential", "ResidenceCredential"},
		"credentialSubject": map[string]any{"id": "did:example:holder-3f9a1c0d7e", "region": "310000"}}
	if related != nil {
		cred["relatedResource"] = related
	}
	body, _ := json.Marshal(map[string]any{"credential": cred})
	code, res := e.post(t, "/credentials/issue", issueToken, string(body))
	if code != 201 {
		t.Fatalf("issue: %d %v", code, res)
	}
	env, _ := json.Marshal(res["verifiableCredential"])
	return string(env)
}

func relatedOption(items ...[2]string) string {
	var parts []string
	for _, it := range items {
		parts = append(parts, fmt.Sprintf(`{"id":%q,"content":%q}`, it[0], base64.RawURLEncoding.EncodeToString([]byte(it[1]))))
	}
	return `"options":{"trustidRelatedResources":[` + strings.Join(parts, ",") + `]}`
}

func relatedStatuses(body map[string]any) []string {
	var out []string
	list, _ := body["relatedResources"].([]any)
	for _, it := range list {
		m := it.(map[string]any)
		s := m["status"].(string)
		if m["fetched"] == true {
			s += "+fetched"
		}
		out = append(out, s)
	}
	return out
}

func warningCodes(body map[string]any) []string {
	var out []string
	list, _ := body["warnings"].([]any)
	for _, it := range list {
		out = append(out, it.(map[string]any)["code"].(string))
	}
	return out
}

func hasCheck(body map[string]any, name string) bool {
	list, _ := body["checks"].([]any)
	for _, c := range list {
		if c == name {
			return true
		}
	}
	return false
}

const (
	termsURL = "https://resources.example/terms"
	logoURL  = "https://resources.example/logo"
)

func TestVCAPIVerifyRelatedResources(t *testing.T) {
	e := newVCEnv(t)
	sri, _ := vc.SRIDigest("sha384", []byte("terms v1"))
	mb, _ := vc.MultibaseDigest(vc.MultihashSM3_256, []byte("logo v1"))
	env := e.issueWithRelated(t, []map[string]any{
		{"id": termsURL, "digestSRI": sri, "mediaType": "text/plain"},
		{"id": logoURL, "digestMultibase": mb},
	})
	verify := func(opts string) (int, map[string]any) {
		if opts != "" {
			opts = "," + opts
		}
		return e.post(t, "/credentials/verify", "", `{"verifiableCredential":`+env+opts+`}`)
	}

	// Nothing given, nothing fetched: verified, each resource reported as
	// not checked.
	code, body := verify("")
	if code != 200 || body["verified"] != true || fmt.Sprint(relatedStatuses(body)) != "[unavailable unavailable]" ||
		fmt.Sprint(warningCodes(body)) != "[related_resource_unchecked related_resource_unchecked]" || hasCheck(body, "related-resources") {
		t.Fatalf("none given: %d %v", code, body)
	}
	// Both given and matching.
	code, body = verify(relatedOption([2]string{termsURL, "terms v1"}, [2]string{logoURL, "logo v1"}))
	if code != 200 || body["verified"] != true || fmt.Sprint(relatedStatuses(body)) != "[verified verified]" ||
		len(warningCodes(body)) != 0 || !hasCheck(body, "related-resources") {
		t.Fatalf("both given: %d %v", code, body)
	}
	// One given.
	code, body = verify(relatedOption([2]string{logoURL, "logo v1"}))
	if code != 200 || fmt.Sprint(relatedStatuses(body)) != "[unavailable verified]" || hasCheck(body, "related-resources") {
		t.Fatalf("one given: %d %v", code, body)
	}
	// A mismatch fails verification, with the per-resource outcome.
	code, body = verify(relatedOption([2]string{termsURL, "terms v1"}, [2]string{logoURL, "logo v2"}))
	if code != 400 || body["verified"] != false || firstCode(body) != "related_resource_mismatch" ||
		fmt.Sprint(relatedStatuses(body)) != "[verified mismatch]" {
		t.Fatalf("mismatch: %d %v", code, body)
	}
	// Content for a resource the credential does not list: a warning.
	code, body = verify(relatedOption([2]string{termsURL, "terms v1"}, [2]string{logoURL, "logo v1"}, [2]string{"https://other.example/", "x"}))
	if code != 200 || fmt.Sprint(warningCodes(body)) != "[related_resource_not_listed]" {
		t.Fatalf("unlisted: %d %v", code, body)
	}
	// A credential without relatedResource has no relatedResources.
	code, body = e.post(t, "/credentials/verify", "", `{"verifiableCredential":`+e.issueWithRelated(t, nil)+`}`)
	if _, ok := body["relatedResources"]; code != 200 || ok || len(warningCodes(body)) != 0 || hasCheck(body, "related-resources") {
		t.Fatalf("no relatedResource: %d %v", code, body)
	}
}

// Digests the node cannot check fail verification with a specific code.
// The node itself issues none that do not parse (422 invalid_credential),
// so those are signed here with the accredited client's key, as another
// issuer would sign them.
func TestVCAPIVerifyRelatedBadDigests(t *testing.T) {
	e := newVCEnv(t)
	key, err := e.keys.OwnerActive(testIssuerDID, gm.AlgSM2)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		digest map[string]any
		code   string
	}{
		{map[string]any{"digestSRI": "sha384-AAAA"}, "related_resource_digest_malformed"},
		{map[string]any{"digestMultibase": "mEiBXOT"}, "related_resource_digest_malformed"}, // 'm' is not taken
		{map[string]any{"digestMultibase": "u!!"}, "related_resource_digest_malformed"},
		{map[string]any{"digestSRI": "md5-AAAA sha1-AAAA"}, "related_resource_digest_unsupported"},
	} {
		entry := map[string]any{"id": termsURL}
		for k, v := range tc.digest {
			entry[k] = v
		}
		cred := map[string]any{"@context": []any{vc.ContextV2}, "type": []any{"VerifiableCredential", "ResidenceCredential"},
			"issuer": testIssuerDID, "credentialSubject": map[string]any{"id": "did:example:holder-3f9a1c0d7e", "region": "310000"},
			"relatedResource": []any{entry}}
		req, _ := json.Marshal(map[string]any{"credential": cred})
		code, res := e.post(t, "/credentials/issue", issueToken, string(req))
		if malformed := tc.code == "related_resource_digest_malformed"; malformed != (code == 422 && res["error"] == "invalid_credential") || !malformed && code != 201 {
			t.Errorf("issuing %v: %d %v", tc.digest, code, res)
		}
		tok, err := vc.SignJWT(cred, vc.TypVCJWT, testIssuerDID+"#"+key.Kid, key.Signer)
		if err != nil {
			t.Fatal(err)
		}
		code, body := e.post(t, "/credentials/verify", "", `{"verifiableCredential":"`+tok+`",`+relatedOption([2]string{termsURL, "terms v1"})+`}`)
		if code != 400 || body["verified"] != false || firstCode(body) != tc.code || fmt.Sprint(relatedStatuses(body)) != "[invalid]" {
			t.Errorf("%v: %d %v", tc.digest, code, body)
		}
	}
}

// Malformed options are request errors (400 with an Error body), never
// a 5xx.
func TestVCAPIVerifyRelatedBadInput(t *testing.T) {
	e := newVCEnv(t)
	sri, _ := vc.SRIDigest("sha256", []byte("terms v1"))
	env := e.issueWithRelated(t, []map[string]any{{"id": termsURL, "digestSRI": sri}})
	big := base64.RawURLEncoding.EncodeToString(make([]byte, maxRelatedContent+1))
	many := make([]string, vc.MaxRelatedResources+1)
	for i := range many {
		many[i] = fmt.Sprintf(`{"id":"https://r.example/%d","content":""}`, i)
	}
	for _, tc := range []struct {
		name, opts, code string
	}{
		{"bad base64", `{"trustidRelatedResources":[{"id":"` + termsURL + `","content":"a+b/"}]}`, "invalid_related_resource"},
		{"not base64 at all", `{"trustidRelatedResources":[{"id":"` + termsURL + `","content":"%%%"}]}`, "invalid_related_resource"},
		{"no id", `{"trustidRelatedResources":[{"content":"YQ"}]}`, "invalid_related_resource"},
		{"repeated id", `{"trustidRelatedResources":[{"id":"x:1","content":"YQ"},{"id":"x:1","content":"Yg"}]}`, "invalid_related_resource"},
		{"too large", `{"trustidRelatedResources":[{"id":"` + termsURL + `","content":"` + big + `"}]}`, "related_resource_too_large"},
		{"too many", `{"trustidRelatedResources":[` + strings.Join(many, ",") + `]}`, "invalid_related_resource"},
		{"unknown member", `{"trustidRelatedResources":[{"id":"x:1","content":"YQ","digest":"x"}]}`, CodeInvalidRequest},
		{"not a list", `{"trustidRelatedResources":{"id":"x:1"}}`, CodeInvalidRequest},
		{"content not a string", `{"trustidRelatedResources":[{"id":"x:1","content":5}]}`, CodeInvalidRequest},
	} {
		code, body := e.post(t, "/credentials/verify", "", `{"verifiableCredential":`+env+`,"options":`+tc.opts+`}`)
		if code != 400 || body["error"] != tc.code {
			t.Errorf("%s: %d %v", tc.name, code, body)
		}
	}
	// Padded base64url is taken too.
	code, body := e.post(t, "/credentials/verify", "", `{"verifiableCredential":`+env+`,"options":{"trustidRelatedResources":[{"id":"`+termsURL+`","content":"`+base64.URLEncoding.EncodeToString([]byte("terms v1"))+`"}]}}`)
	if code != 200 || fmt.Sprint(relatedStatuses(body)) != "[verified]" {
		t.Errorf("padded: %d %v", code, body)
	}
	// The presentation route does not take the option.
	code, body = e.post(t, "/presentations/verify", "", `{"verifiablePresentation":"a.b.c","options":{"challenge":"c","domain":"d","trustidRelatedResources":[]}}`)
	if code != 400 || body["error"] != CodeInvalidRequest {
		t.Errorf("presentations: %d %v", code, body)
	}
}

// With RelatedFetch the node fetches what the request does not give,
// through the guarded client.
func TestVCAPIVerifyRelatedFetch(t *testing.T) {
	res := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, "terms v1")
	}))
	defer res.Close()
	fetch, err := vc.NewFetchClient(res.Client(), vc.FetchOptions{AllowHost: vc.AllowHosts("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	sri, _ := vc.SRIDigest("sha512", []byte("terms v1"))
	for _, tc := range []struct {
		name   string
		client *http.Client
		want   string
	}{
		{"fetched", fetch, "[verified+fetched]"},
		{"loopback not allowed", res.Client(), "[unavailable]"},
	} {
		e := newVCEnv(t, func(c *CredentialsConfig) { c.RelatedFetch = tc.client })
		env := e.issueWithRelated(t, []map[string]any{{"id": res.URL + "/terms", "digestSRI": sri, "mediaType": "text/plain"}})
		code, body := e.post(t, "/credentials/verify", "", `{"verifiableCredential":`+env+`}`)
		if code != 200 || fmt.Sprint(relatedStatuses(body)) != tc.want {
			t.Errorf("%s: %d %v", tc.name, code, body)
		}
	}
}
