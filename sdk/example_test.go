package sdk_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"sort"
	"time"

	"github.com/trustid-cn/trustid/auth"
	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/issuer"
	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/sdk"
	"github.com/trustid-cn/trustid/sdk/wallet"
)

// A relying party gets access tokens with its SM2 client key
// (private_key_jwt); the token is cached and replaced before it expires.
func ExampleTokenSource() {
	node := startExampleNode()
	defer node.Close()
	key := node.register("hotel", gm.AlgSM2, auth.ScopeQRRedeem)

	tokens, err := sdk.NewTokenSource(sdk.ClientConfig{Node: node.URL, ClientID: "hotel", Key: key})
	if err != nil {
		log.Fatal(err)
	}
	tok, err := tokens.Token(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	again, _ := tokens.Token(context.Background())
	fmt.Println("got a token:", tok != "")
	fmt.Println("cached:", again == tok)
	// Output:
	// got a token: true
	// cached: true
}

// Counter staff redeem the online code a holder shows: the node answers
// once with the party's own pairwise ID for the holder, the assurance
// level and the claims the holder consented to; the same code again is
// refused.
func ExampleClient_RedeemQR() {
	node := startExampleNode()
	defer node.Close()
	key := node.registerWithClaims("hotel", gm.AlgSM2, []string{"age_over_18"}, auth.ScopeQRRedeem)
	tokens, err := sdk.NewTokenSource(sdk.ClientConfig{Node: node.URL, ClientID: "hotel", Key: key})
	if err != nil {
		log.Fatal(err)
	}
	client := &sdk.Client{Node: node.URL, Tokens: tokens}
	// The code the holder's app shows (what its camera scan gives).
	code := node.onlineCode("11010519491231002X", map[string]string{"age_over_18": "true", "age_over_60": "true"}, "age_over_18")

	r, err := client.RedeemQR(context.Background(), code)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("pairwise ID:", len(r.PairwiseID), "characters")
	fmt.Println("level:", r.AssuranceLevel, "region:", r.Region, "claims:", r.Claims)
	_, err = client.RedeemQR(context.Background(), code)
	fmt.Println("again:", errors.Is(err, qrcode.ErrCodeUsed))
	// Output:
	// pairwise ID: 34 characters
	// level: 2 region: 310000 claims: map[age_over_18:true]
	// again: true
}

// A relying party protects its own API with TrustID access tokens,
// verified offline with the node's cached keys. The hotel registers its
// API's URI as its resource; a client (the shop, with an ES256 key) asks
// the node for a token for that API (RFC 8707 resource), which names it
// alone: the token the shop holds for the node is refused here, as a
// token for the hotel's API is at the node.
func ExampleAccessTokenVerifier_Middleware() {
	node := startExampleNode()
	defer node.Close()
	const api = "https://hotel.example/api"
	node.register("hotel", gm.AlgSM2, auth.ScopeQRRedeem)
	node.serveAPI("hotel", api)
	key := node.register("shop", gm.AlgES256, auth.ScopeQRRedeem)
	ctx := context.Background()
	tokens, _ := sdk.NewTokenSource(sdk.ClientConfig{Node: node.URL, ClientID: "shop", Key: key, Resource: api})
	tok, err := tokens.Token(ctx)
	if err != nil {
		log.Fatal(err)
	}
	nodeTokens, _ := sdk.NewTokenSource(sdk.ClientConfig{Node: node.URL, ClientID: "shop", Key: key})
	forNode, err := nodeTokens.Token(ctx)
	if err != nil {
		log.Fatal(err)
	}

	verifier, err := sdk.NewAccessTokenVerifier(sdk.AccessTokenConfig{Issuer: node.URL, Audience: api, Algorithms: []string{gm.AlgSM2}})
	if err != nil {
		log.Fatal(err)
	}
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := sdk.PrincipalFrom(r.Context())
		fmt.Fprintf(w, "hello %s", p.ClientID)
	})
	mux := http.NewServeMux()
	mux.Handle("/checkin", verifier.Middleware(auth.ScopeQRRedeem)(hello))
	mux.Handle("/admin", verifier.Middleware(auth.ScopeRegistryAdmin)(hello))
	svc := httptest.NewServer(mux)
	defer svc.Close()

	call := func(path, token string) {
		req, _ := http.NewRequest("GET", svc.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		defer resp.Body.Close()
		fmt.Println(path, resp.StatusCode, resp.Header.Get("WWW-Authenticate") != "")
	}
	call("/checkin", tok)
	call("/checkin", "")
	call("/checkin", forNode)
	call("/admin", tok)
	// Output:
	// /checkin 200 false
	// /checkin 401 true
	// /checkin 401 true
	// /admin 403 true
}

// A counter terminal verifies an offline QR code without calling the
// node: issuer keys come from the node's cached JWKS and the binding's
// status from the node's published, cached status list. Once the binding
// is revoked and the cached list has expired, the code is refused.
func ExampleNewQRVerifier() {
	node := startExampleNode()
	defer node.Close()
	ctx := context.Background()

	// What enrollment does at the node: a status entry and a binding of
	// the holder's device key, signed with the node's SM2 key.
	listID, index, err := node.lists.Allocate(ctx, status.PurposeToken)
	if err != nil {
		log.Fatal(err)
	}
	number, _ := hex.DecodeString(listID[:8])
	ref := qrcode.StatusRef{Region: 310000, List: uint32(number[0])<<24 | uint32(number[1])<<16 | uint32(number[2])<<8 | uint32(number[3]), Index: uint32(index)}
	nodeKey, _ := node.keys.Active(gm.AlgSM2)
	device, _ := gm.GenerateKey(rand.Reader)
	now := time.Now()
	holderCopy, err := (&qrcode.Issuer{Signer: nodeKey.Signer, Kid: nodeKey.Kid, Region: 310000}).IssueBinding(qrcode.Binding{
		Subject: make([]byte, 16), DeviceKey: device.PublicKey(), Assurance: qrcode.AssurancePIN,
		IssuedAt: now, Expiry: now.Add(24 * time.Hour), Status: ref, Claims: map[string]string{"age_over_18": "true"}})
	if err != nil {
		log.Fatal(err)
	}

	// The verifier, with an injectable clock.
	clock := now
	nodes := &sdk.Nodes{Bases: []string{node.URL}, Algorithms: []string{gm.AlgSM2}, Now: func() time.Time { return clock }}
	verifier, err := sdk.NewQRVerifier(sdk.QRConfig{
		Keys:   &sdk.KeySet{URL: node.URL + sdk.JWKSPath, Now: func() time.Time { return clock }},
		Region: "310000", // the node's region: its keys sign only its codes
		Status: &sdk.QRStatus{Nodes: nodes, Regions: map[string]string{"310000": node.URL}},
		Now:    func() time.Time { return clock },
		Window: time.Hour,
	})
	if err != nil {
		log.Fatal(err)
	}
	show := func(counter uint64) {
		code, err := qrcode.NewOffline(rand.Reader, device, holderCopy, nil,
			qrcode.Presentation{Time: now, Counter: counter, Claims: []string{"age_over_18"}})
		if err != nil {
			log.Fatal(err)
		}
		res, err := verifier.Verify(ctx, code, qrcode.VerifyOptions{})
		if err != nil {
			fmt.Println("refused:", err)
			return
		}
		fmt.Println("valid: assurance", res.Assurance, "region", res.Region, "age_over_18", res.Claims["age_over_18"])
	}
	show(1)
	if err := node.lists.Set(ctx, listID, index, status.TokenInvalid); err != nil { // the node revokes the binding
		log.Fatal(err)
	}
	show(2) // the cached list is still fresh
	clock = clock.Add(6 * time.Minute)
	show(3) // past the list's ttl: fetched again
	// Output:
	// valid: assurance 3 region 310000 age_over_18 true
	// valid: assurance 3 region 310000 age_over_18 true
	// refused: qrcode: revoked: device binding
}

// A relying party verifies an SD-JWT VC presentation in which the holder
// disclosed only age_over_18: the issuer's key from the node's JWKS, the
// status from its Token Status List, the key binding to the verifier's
// audience and nonce.
func ExampleNewCredentialVerifier() {
	node := startExampleNode()
	defer node.Close()
	ctx := context.Background()

	keys := wallet.NewSoftwareKeys()
	w, _ := wallet.NewHolder(node.URL, keys, "device")
	jwkJSON, _ := w.CreateDeviceKey()
	var holderKey gm.JWK
	if err := json.Unmarshal([]byte(jwkJSON), &holderKey); err != nil {
		log.Fatal(err)
	}
	claims, _ := vc.IdentityCredential(vc.IdentityClaims{Subject: "urn:trustid:subject:example", AssuranceLevel: 3,
		Region: "310000", Name: "张三", BirthDate: "1949-12-31"}, time.Now())
	issued, err := node.issuer.Issue(ctx, claims, issuer.IssueOptions{Format: issuer.FormatSDJWT, HolderKey: &holderKey})
	if err != nil {
		log.Fatal(err)
	}
	pres, err := w.PresentCredential(issued.Token, "age_over_18", "https://rp.example", "nonce-1")
	if err != nil {
		log.Fatal(err)
	}

	verifier, err := sdk.NewCredentialVerifier(&sdk.Nodes{Bases: []string{node.URL}, Algorithms: []string{gm.AlgSM2}}, 0)
	if err != nil {
		log.Fatal(err)
	}
	got, err := verifier.VerifySDJWT(ctx, pres, vc.SDJWTOptions{RequireKeyBinding: true, Audience: "https://rp.example", Nonce: "nonce-1"})
	if err != nil {
		log.Fatal(err)
	}
	var disclosed []string
	for _, d := range got.Disclosures {
		disclosed = append(disclosed, d.Name)
	}
	sort.Strings(disclosed)
	fmt.Println("disclosed:", disclosed, "age_over_18:", got.Claims["age_over_18"], "key bound:", got.KeyBound)
	// Output:
	// disclosed: [age_over_18] age_over_18: true key bound: true
}

// zeros is a fixed randomness source, so the example's state, nonce and
// PKCE verifier (and its output) are the same on every run. Use
// crypto/rand (the default) in a service.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// A relying party starts a scan-to-login: discovery, then the
// authorization URL with state, nonce and a PKCE S256 challenge; Finish
// later checks the callback's state, exchanges the code with
// private_key_jwt and verifies the ID token.
func ExampleLogin_Start() {
	var provider *httptest.Server
	provider = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"issuer": provider.URL, "authorization_endpoint": "https://id.example/oauth2/authorize",
			"token_endpoint": provider.URL + "/oauth2/token", "jwks_uri": provider.URL + "/.well-known/jwks.json",
			"code_challenge_methods_supported": []string{"S256"}})
	}))
	defer provider.Close()
	key, _ := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
	login, err := sdk.NewLogin(sdk.LoginConfig{Issuer: provider.URL, ClientID: "hotel", RedirectURI: "https://hotel.example/cb",
		Key: key, Scopes: []string{"age_over_18"}, Algorithms: []string{gm.AlgSM2}, Rand: zeros{}})
	if err != nil {
		log.Fatal(err)
	}
	start, err := login.Start(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(start.URL) // code_challenge = base64url(SHA-256(code verifier)), checked independently (RFC 7636 S256)
	// Output:
	// https://id.example/oauth2/authorize?client_id=hotel&code_challenge=DwBzhbb51LfusnSGBa_hqYSgo7-j8BTQnip4TOnlzRo&code_challenge_method=S256&nonce=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA&redirect_uri=https%3A%2F%2Fhotel.example%2Fcb&response_type=code&scope=openid+age_over_18&state=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
}
