package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/chaincode"
	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/dataintegrity"
	"github.com/trustid-cn/trustid/credentials/distatus"
	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/testport"
	"github.com/trustid-cn/trustid/keystore"
	"github.com/trustid-cn/trustid/ledger"
	"github.com/trustid-cn/trustid/ledger/embedded"
)

// TestServeAnchorsStatus runs `trustid serve` on the embedded defaults
// behind a TLS front (its public https URL, which remote verifiers
// fetch), and follows a revocation from the API to the chain and to a
// verifier on another machine:
//
//  1. a service gets a real OAuth token (private_key_jwt), issues two
//     vc+jwt credentials and revokes the first; the test waits until the
//     node's ledger view reports the revocation list's new head;
//  2. with the node stopped, `trustid ledger head` shows that head: the
//     version the served list claims, and the digest a verifier computes
//     over it;
//  3. a verifier with its own replica of the ledger (a copy of ledger.db)
//     checks lists fetched from the restarted node: the revoked credential
//     is revoked, the other valid; the front, tampered with, then serves
//     the list from before the revocation (stale) and a list re-signed
//     with the node's own key with the revoked bit cleared (forged): both
//     are refused. The same again with lists secured with a Data
//     Integrity proof (distatus.Form, as the node fetches other nodes'
//     lists): one anchored head checks every form.
func TestServeAnchorsStatus(t *testing.T) {
	t.Setenv("TRUSTID_KEK", testKEK)
	dir := t.TempDir()
	nodeAddr := testport.Reserve(t)
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: nodeAddr})
	var tampered atomic.Pointer[string] // a status list the front serves instead of the node's
	var listID string
	var asked sync.Map // Accept header -> a list was asked for in it
	front := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/status/"+listID {
			asked.Store(r.Header.Get("Accept"), true)
		}
		if list := tampered.Load(); list != nil && r.URL.Path == "/status/"+listID {
			// A vc+jwt, or a list with a Data Integrity proof (JSON).
			ct := vc.MediaTypeVCJWT
			if strings.HasPrefix(*list, "{") {
				ct = dataintegrity.MediaTypeVC
			}
			w.Header().Set("Content-Type", ct)
			io.WriteString(w, *list)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer front.Close()
	// What a verifier fetches with: no redirects, public addresses only,
	// and the loopback address of the test's front allowed.
	fetch, err := vc.NewFetchClient(front.Client(), vc.FetchOptions{AllowHost: vc.AllowHosts("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"--data", dir, "--addr", nodeAddr, "--issuer", front.URL, "--log-level", "debug"}
	ctx := context.Background()

	var vc1, vc2, vc1ID, before, after, beforeDI, afterDI string
	var served uint64
	t.Run("issue and revoke", func(t *testing.T) {
		base, logs := startServe(t, args...)
		n := &authNode{t: t, dir: dir, base: base, logs: logs}
		key := n.addClient("civil-affairs", "SM2", auth.ScopeCredentialsIssue+","+auth.ScopeStatusWrite)
		tok := n.token("civil-affairs", key)
		n.accredit("civil-affairs", "ResidenceCredential")
		issue := func() (string, string) {
			body := `{"credential":{"@context":["https://www.w3.org/ns/credentials/v2"],"type":["VerifiableCredential","ResidenceCredential"],` +
				`"credentialSubject":{"id":"did:example:resident-77c1e0","region":"310000","since":"2020-01-01"}}}`
			code, resp, _ := n.do(http.MethodPost, "/credentials/issue", tok, "application/json", body)
			if code != http.StatusCreated {
				t.Fatalf("issue: %d %v", code, resp)
			}
			env, _ := resp["verifiableCredential"].(map[string]any)
			_, token, err := vc.ParseDataURL(env["id"].(string))
			if err != nil {
				t.Fatal(err)
			}
			return token, resp["credentialId"].(string)
		}
		vc1, vc1ID = issue()
		vc2, _ = issue()
		listURL := statusURL(t, vc1, vc.PurposeRevocation)
		if !strings.HasPrefix(listURL, front.URL+"/status/") {
			t.Fatalf("status list URL %s is not under the public URL", listURL)
		}
		listID = strings.TrimPrefix(listURL, front.URL+"/status/")
		before = fetchList(t, fetch, listURL)
		beforeDI = fetchListAs(t, fetch, listURL, dataintegrity.MediaTypeVC)

		code, resp, _ := n.do(http.MethodPost, "/v1/credentials/"+url.PathEscape(vc1ID)+"/status", tok, "application/json", `{"action":"revoke"}`)
		if code != http.StatusOK {
			t.Fatalf("revoke: %d %v", code, resp)
		}
		// The served list is the chain's: it changes once the outbox's
		// batch is committed and followed (the staleness bound).
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			after = fetchList(t, fetch, listURL)
			if served = listVersion(t, after); served > listVersion(t, before) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the served list's version did not grow: %d", served)
			}
		}
		afterDI = fetchListAs(t, fetch, listURL, dataintegrity.MediaTypeVC)
		// The API returned before the chain had the change; wait for the
		// node's view to report the head.
		re := regexp.MustCompile(`"msg":"status head anchored".*"list":"` + listID + `","version":` + u64str(served) + `,`)
		for deadline := time.Now().Add(15 * time.Second); !re.MatchString(logs.String()); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("head %s v%d never anchored:\n%s", listID, served, logs.String())
			}
		}
	})
	if t.Failed() {
		return
	}

	// 2. The head on the ledger, read by the operator command.
	var out string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		out, _, err = run(t, ctx, "ledger", "head", "310000", listID, "--data", dir)
		if err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	var head chaincode.StatusHead
	if err := json.Unmarshal([]byte(out), &head); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if head.Version != served || len(head.Digest) != 64 {
		t.Fatalf("ledger head %+v, want version %d", head, served)
	}
	if out, _, err := run(t, ctx, "ledger", "verify", "--data", dir); err != nil || !strings.Contains(out, `"verified": true`) {
		t.Fatalf("ledger verify: %v %s", err, out)
	}
	// A verifier's replica of the chain.
	replica := filepath.Join(t.TempDir(), "ledger.db")
	raw, err := os.ReadFile(filepath.Join(dir, ledgerFile))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(replica, raw, 0o600)
	l, err := embedded.Open(replica, embedded.Options{MSPID: chaincode.RegionMSP("320000")})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	view := ledger.NewView(l, ledger.ViewOptions{})
	vctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go view.Run(vctx)
	for deadline := time.Now().Add(5 * time.Second); !view.Ready(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("replica view not ready")
		}
	}
	if h, ok := view.StatusHead("310000", listID); !ok || h.Digest != head.Digest {
		t.Fatalf("replica head %+v", h)
	}

	// 3. The node again, and verifiers.
	t.Run("verify against the ledger", func(t *testing.T) {
		startServe(t, args...)
		// dataIntegrity: the verifier asks for lists with a Data
		// Integrity proof first, as the node does for other nodes' lists.
		verifierWith := func(client *http.Client, dataIntegrity bool) *vc.Verifier {
			res := &vc.Resolver{Client: client}
			lv, _ := vc.NewVerifier(vc.VerifierConfig{Trust: vc.AnyIssuer{}, Algorithms: gm.JWTAlgorithms, Resolver: res, SkipStatus: true})
			src := &vc.HTTPStatusSource{Client: client, Verifier: lv, Resolver: res, Algorithms: gm.JWTAlgorithms, Anchors: view, AnchorWait: time.Second}
			if dataIntegrity {
				lists, err := dataintegrity.NewVerifier(dataintegrity.Config{Resolver: res, Cryptosuites: dataintegrity.Cryptosuites(),
					Checker: dataintegrity.CheckWith(lv.CheckCredential)})
				if err != nil {
					t.Fatal(err)
				}
				src.Forms = []vc.StatusListForm{distatus.Form(lists)}
			}
			// Keys and accreditations of issuers from the replica of the
			// registry; the status lists' issuer is the region's node.
			v, err := vc.NewVerifier(vc.VerifierConfig{Algorithms: gm.JWTAlgorithms, Status: vc.NewStatusChecker(src, time.Minute, nil),
				Resolver: &vc.RegistryResolver{Registry: view, Next: res}, Trust: &vc.RegistryTrust{Registry: view}})
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		// In each form: the node's list, then the front tampered with,
		// serving its own (stale, forged), then the real one again. The
		// Data Integrity verifier asks for application/vc, never vc+jwt.
		for _, f := range []struct {
			name          string
			dataIntegrity bool
			before, after string
			forge         func(t *testing.T, dir, list string, index int) string
		}{
			{"vc+jwt", false, before, after, forgeCleared},
			{"Data Integrity", true, beforeDI, afterDI, forgeClearedDI},
		} {
			tampered.Store(nil)
			asked.Clear()
			v := verifierWith(fetch, f.dataIntegrity)
			if _, err := v.VerifyCredential(ctx, vc1); !errors.Is(err, vc.ErrRevoked) {
				t.Errorf("%s: revoked credential: %v", f.name, err)
			}
			if _, err := v.VerifyCredential(ctx, vc2); err != nil {
				t.Errorf("%s: valid credential: %v", f.name, err)
			}
			if _, ok := asked.Load(dataintegrity.MediaTypeVC + ", " + distatus.MediaTypeVCLD + ";q=0.9"); ok != f.dataIntegrity {
				t.Errorf("%s: asked for a list with a Data Integrity proof: %v", f.name, ok)
			}
			if _, ok := asked.Load(vc.MediaTypeVCJWT); ok == f.dataIntegrity {
				t.Errorf("%s: asked for a vc+jwt list: %v", f.name, ok)
			}
			for _, c := range []struct {
				name, list string
				want       error
			}{
				{"stale: the list from before the revocation", f.before, vc.ErrStatusListStale},
				{"forged: re-signed with the node's key, the bit cleared", f.forge(t, dir, f.after, statusIndex(t, vc1)), vc.ErrStatusListForged},
			} {
				tampered.Store(&c.list)
				if _, err := verifierWith(fetch, f.dataIntegrity).VerifyCredential(ctx, vc1); !errors.Is(err, c.want) || !errors.Is(err, vc.ErrStatusUnavailable) {
					t.Errorf("%s, %s: %v, want %v", f.name, c.name, err, c.want)
				}
			}
			// The control: the same tampered front serving the real list.
			tampered.Store(&f.after)
			if _, err := verifierWith(fetch, f.dataIntegrity).VerifyCredential(ctx, vc1); !errors.Is(err, vc.ErrRevoked) {
				t.Errorf("%s: the real list through the tampered front: %v", f.name, err)
			}
		}
	})
}

func u64str(v uint64) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// payload decodes a compact JWS's payload with numbers kept.
func payload(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %.40s", tok)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// statusEntry returns a credential's status entry of purpose.
func statusEntry(t *testing.T, cred, purpose string) map[string]any {
	t.Helper()
	entries, _ := payload(t, cred)["credentialStatus"].([]any)
	for _, e := range entries {
		if m, _ := e.(map[string]any); m["statusPurpose"] == purpose {
			return m
		}
	}
	t.Fatalf("no %s entry", purpose)
	return nil
}

func statusURL(t *testing.T, cred, purpose string) string {
	return statusEntry(t, cred, purpose)["statusListCredential"].(string)
}

func statusIndex(t *testing.T, cred string) int {
	var i int
	json.Unmarshal([]byte(statusEntry(t, cred, vc.PurposeRevocation)["statusListIndex"].(string)), &i)
	return i
}

// fetchList fetches a status list as vc+jwt.
func fetchList(t *testing.T, client *http.Client, u string) string {
	t.Helper()
	return fetchListAs(t, client, u, vc.MediaTypeVCJWT)
}

// fetchListAs fetches a status list in the media type accept.
func fetchListAs(t *testing.T, client *http.Client, u, accept string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Accept", accept)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	return strings.TrimSpace(string(b))
}

func listVersion(t *testing.T, list string) uint64 {
	t.Helper()
	sub, _ := payload(t, list)["credentialSubject"].(map[string]any)
	n, _ := sub["listVersion"].(json.Number)
	var v uint64
	if err := json.Unmarshal([]byte(n.String()), &v); err != nil || v == 0 {
		t.Fatalf("served list has no version: %v", sub["listVersion"])
	}
	return v
}

// forgeCleared re-signs the served list with the node's own SM2 key (as
// someone who stole it would), at the same version, with entry index
// cleared.
func forgeCleared(t *testing.T, dir, list string, index int) string {
	t.Helper()
	doc := payload(t, list)
	k := clearWithNodeKey(t, dir, doc, index)
	tok, err := vc.SignJWT(doc, vc.TypVCJWT, doc["issuer"].(string)+"#"+k.Kid, k.Signer)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// forgeClearedDI is forgeCleared for a list with a Data Integrity proof:
// the node's proof is replaced by one made with its own SM2 key
// (sm2-rdfc-2025), at the same version, with entry index cleared.
func forgeClearedDI(t *testing.T, dir, list string, index int) string {
	t.Helper()
	doc, err := vc.ParseJSONObject([]byte(list))
	if err != nil {
		t.Fatal(err)
	}
	delete(doc, "proof")
	k := clearWithNodeKey(t, dir, doc, index)
	out, err := dataintegrity.SignCredential(dataintegrity.SM2RDFC2025, doc, doc["issuer"].(string)+"#"+k.Kid, k.Signer)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// clearWithNodeKey clears entry index of list credential doc (which must
// have it set) and returns the node's active SM2 key, from its keystore
// in dir, to sign the forgery with.
func clearWithNodeKey(t *testing.T, dir string, doc map[string]any, index int) keystore.Key {
	t.Helper()
	kek, _ := hex.DecodeString(testKEK)
	ks, err := keystore.Open(filepath.Join(dir, keystoreFile), kek, keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	k, err := ks.Active(gm.AlgSM2)
	if err != nil {
		t.Fatal(err)
	}
	sub := doc["credentialSubject"].(map[string]any)
	bits, err := status.DecodeBitstring(sub["encodedList"].(string), 0)
	if err != nil {
		t.Fatal(err)
	}
	if !bits.Get(index) {
		t.Fatal("the served list does not have the revocation")
	}
	bits.Set(index, false)
	sub["encodedList"] = bits.Encode()
	return k
}
