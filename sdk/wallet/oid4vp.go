package wallet

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/credentials/sdjwt"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/strictjson"
	"github.com/trustid-cn/trustid/oid4vp/dcql"
	"github.com/trustid-cn/trustid/oid4vp/txdata"
)

// ErrPresentationRequest: an OID4VP request the wallet refuses (not
// signed by an attested verifier, expired, malformed, or asking for what
// the wallet cannot answer).
var ErrPresentationRequest = errors.New("wallet: invalid presentation request")

// ErrTransactionData: the request's transaction_data has a type the
// wallet does not support, or an object it cannot read (OID4VP 1.0 §5.1).
// ResolvePresentationRequest tells the verifier so
// (error=invalid_transaction_data) and returns it wrapped with
// ErrPresentationRequest.
var ErrTransactionData = errors.New("wallet: unsupported or invalid transaction data")

// OID4VP names the wallet checks.
const (
	prefixAttestation = "verifier_attestation:"
	typRequestObject  = "oauth-authz-req+jwt"
	typAttestation    = "verifier-attestation+jwt"
	audSelfIssued     = "https://self-issued.me/v2"
	maxRequestObject  = 64 << 10
)

// CredentialStore holds the holder's SD-JWT VCs, each as issued (with all
// its disclosures) and bound to the wallet's device key, or, for
// StoredCredentials, to its own key. IDs returns the
// stored credentials' IDs, comma-separated; Get returns one, or an error
// when there is none. Implementations must be safe for concurrent use.
type CredentialStore interface {
	IDs() (string, error)
	Get(id string) (string, error)
}

// MemoryCredentials is a CredentialStore in memory.
type MemoryCredentials struct {
	m map[string]string
}

// NewMemoryCredentials returns an empty store.
func NewMemoryCredentials() *MemoryCredentials { return &MemoryCredentials{m: map[string]string{}} }

// Add stores credential under id (not safe concurrently with reads).
func (s *MemoryCredentials) Add(id, credential string) { s.m[id] = credential }

// IDs implements CredentialStore.
func (s *MemoryCredentials) IDs() (string, error) {
	ids := make([]string, 0, len(s.m))
	for id := range s.m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return strings.Join(ids, ","), nil
}

// Get implements CredentialStore.
func (s *MemoryCredentials) Get(id string) (string, error) {
	c, ok := s.m[id]
	if !ok {
		return "", fmt.Errorf("%w: no credential %q", ErrInvalidArgument, id)
	}
	return c, nil
}

// PresentationRequest is a verified OID4VP request: its request object was
// signed with the key a Verifier Attestation JWT from the trusted
// attester binds, for the client identifier verifier_attestation:<RP>.
type PresentationRequest struct {
	// ClientID is the verifier's client identifier; RelyingParty the
	// attested relying party (the attestation's sub); AttestedBy the
	// attester (its iss).
	ClientID     string
	RelyingParty string
	AttestedBy   string
	ResponseURI  string
	ResponseMode string

	nonce, state string
	query        *dcql.Query
	// txData are the transaction_data strings, txItems their objects.
	txData  []string
	txItems []*txdata.Item
	encKey  *jose.JSONWebKey
	enc     jose.ContentEncryption
	holder  *Holder
}

func reqErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrPresentationRequest}, args...)...)
}

// ResolvePresentationRequest fetches the request object that an
// openid4vp:// link references (request_uri) and verifies it: a
// Verifier Attestation JWT (JOSE header jwt) signed by attester with a key
// of attesterJWKS (the trusted node's JWK Set, JSON), whose sub is the
// client_id's identifier and whose cnf key signed the request object; typ
// headers, aud, expiry, response_uri among the attested redirect_uris, a
// valid DCQL query, and for direct_post.jwt a P-256 encryption key.
func (w *Holder) ResolvePresentationRequest(link, attester, attesterJWKS string) (*PresentationRequest, error) {
	u, err := url.Parse(link)
	if err != nil {
		return nil, reqErr("not a URL")
	}
	params := u.Query()
	requestURI, linkClient := params.Get("request_uri"), params.Get("client_id")
	if requestURI == "" || linkClient == "" {
		return nil, reqErr("the link needs client_id and request_uri")
	}
	// https (http only on loopback, a verifier under test), as the
	// wallet's other peers: the request and the presentation are
	// personal data.
	if checkURL(requestURI) != nil {
		return nil, reqErr("request_uri must be an https URL")
	}
	keys, err := gm.ParseJWKS([]byte(attesterJWKS))
	if err != nil {
		return nil, fmt.Errorf("%w: attester JWKS: %w", ErrInvalidArgument, err)
	}
	w.mu.Lock()
	client := w.client
	w.mu.Unlock()
	req, err := http.NewRequest(http.MethodGet, requestURI, nil)
	if err != nil {
		return nil, reqErr("request_uri")
	}
	req.Header.Set("Accept", "application/oauth-authz-req+jwt")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("wallet: fetching the request object: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxRequestObject+1))
	if err != nil {
		return nil, fmt.Errorf("wallet: fetching the request object: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nodeError(resp.StatusCode, body)
	}
	if len(body) > maxRequestObject {
		return nil, reqErr("request object over %d bytes", maxRequestObject)
	}
	pr, err := w.verifyRequestObject(strings.TrimSpace(string(body)), attester, keys)
	if pr != nil && pr.ClientID != linkClient {
		return nil, reqErr("the link's client_id is not the request object's")
	}
	if code := verifierError(err); code != "" {
		// The request is the attested verifier's: it learns why the
		// wallet cannot answer (§8.5), as a best effort.
		pr.holder = w
		_, _ = pr.post(map[string]any{"error": code, "state": pr.state})
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	pr.holder = w
	return pr, nil
}

// errRedirectURI: a request with both response_uri and redirect_uri.
var errRedirectURI = fmt.Errorf("%w: redirect_uri must not be present with response_uri", ErrPresentationRequest)

// verifierError is the error code the verifier of a verified request is
// told for err, "" when it is told nothing.
func verifierError(err error) string {
	switch {
	case errors.Is(err, ErrTransactionData):
		return "invalid_transaction_data"
	case errors.Is(err, errRedirectURI):
		// OpenID4VP 1.0 §8.2: "If the redirect_uri Authorization Request
		// parameter is present when the Response Mode is direct_post, the
		// Wallet MUST return an invalid_request Authorization Response
		// error."
		return "invalid_request"
	}
	return ""
}

// parseSigned verifies a compact JWS of the given typ with the key keyFor
// returns from its header (an allowed algorithm, exp required) and
// returns header and claims.
func (w *Holder) parseSigned(token, typ string, keyFor func(h map[string]any) (crypto.PublicKey, error)) (map[string]any, jwt.MapClaims, error) {
	parser, err := gm.NewJWTParser(gm.JWTAlgorithms, jwt.WithTimeFunc(w.clock), jwt.WithExpirationRequired(), jwt.WithLeeway(30*time.Second))
	if err != nil {
		return nil, nil, err
	}
	claims := jwt.MapClaims{}
	tok, err := parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		if t.Header["typ"] != typ {
			return nil, fmt.Errorf("typ must be %s", typ)
		}
		if _, ok := t.Header["crit"]; ok {
			return nil, errors.New("crit header parameter: the wallet understands no extension (RFC 7515 §4.1.11)")
		}
		pub, err := keyFor(t.Header)
		if err != nil {
			return nil, err
		}
		if a, err := gm.Alg(pub); err != nil || a != t.Method.Alg() {
			return nil, errors.New("the key does not match alg")
		}
		return pub, nil
	})
	if err != nil {
		return nil, nil, err
	}
	return tok.Header, claims, nil
}

func (w *Holder) verifyRequestObject(ro, attester string, keys gm.JWKS) (*PresentationRequest, error) {
	var att jwt.MapClaims
	_, claims, err := w.parseSigned(ro, typRequestObject, func(h map[string]any) (crypto.PublicKey, error) {
		attJWT, _ := h["jwt"].(string)
		if attJWT == "" {
			return nil, errors.New("no Verifier Attestation JWT in the jwt header")
		}
		_, ac, err := w.parseSigned(attJWT, typAttestation, func(ah map[string]any) (crypto.PublicKey, error) {
			kid, _ := ah["kid"].(string)
			k, ok := keys.Key(kid)
			if !ok {
				return nil, errors.New("the attestation is signed with a key the attester does not publish")
			}
			return k.PublicKey()
		})
		if err != nil {
			return nil, fmt.Errorf("verifier attestation: %w", err)
		}
		if ac["iss"] != attester {
			return nil, errors.New("the attestation is not from the trusted attester")
		}
		cnf, _ := ac["cnf"].(map[string]any)
		jwkm, _ := cnf["jwk"].(map[string]any)
		raw, _ := json.Marshal(jwkm)
		var j gm.JWK
		if err := strictjson.Decode(raw, &j, 8<<10); err != nil {
			return nil, errors.New("the attestation's cnf.jwk is not a public JWK")
		}
		pub, err := j.PublicKey()
		if err != nil {
			return nil, err
		}
		att = ac
		return pub, nil
	})
	if err != nil {
		return nil, reqErr("request object: %v", err)
	}
	str := func(name string) string { s, _ := claims[name].(string); return s }
	sub, _ := att["sub"].(string)
	pr := &PresentationRequest{ClientID: str("client_id"), RelyingParty: sub, AttestedBy: attester,
		ResponseURI: str("response_uri"), ResponseMode: str("response_mode"), nonce: str("nonce"), state: str("state")}
	if sub == "" || pr.ClientID != prefixAttestation+sub {
		return nil, reqErr("client_id must be verifier_attestation: followed by the attestation's sub")
	}
	if aud, _ := claims.GetAudience(); !slices.Contains(aud, audSelfIssued) {
		return nil, reqErr("aud must be %s", audSelfIssued)
	}
	if str("response_type") != "vp_token" {
		return nil, reqErr("response_type must be vp_token")
	}
	if pr.nonce == "" {
		return nil, reqErr("nonce is required")
	}
	if checkURL(pr.ResponseURI) != nil {
		return nil, reqErr("response_uri must be an https URL")
	}
	// OpenID4VP 1.0 §5.9.3: "If the issuer of the Verifier Attestation
	// JWT adds a redirect_uris claim to the attestation, the Wallet MUST
	// ensure the redirect_uri request parameter value exactly matches one
	// of the redirect_uris claim entries": a claim that is no array
	// matches nothing.
	if raw, ok := att["redirect_uris"]; ok {
		if uris, _ := raw.([]any); !slices.Contains(uris, any(pr.ResponseURI)) {
			return nil, reqErr("response_uri is not among the attested redirect_uris")
		}
	}
	raw, _ := json.Marshal(claims["dcql_query"])
	if pr.query, err = dcql.Parse(raw); err != nil {
		return nil, reqErr("dcql_query: %v", err)
	}
	switch pr.ResponseMode {
	case "direct_post":
	case "direct_post.jwt":
		if err := pr.encryptionKey(claims["client_metadata"]); err != nil {
			return nil, err
		}
	default:
		return nil, reqErr("response_mode must be direct_post or direct_post.jwt")
	}
	if _, ok := claims["redirect_uri"]; ok {
		return pr, errRedirectURI
	}
	if raw, ok := claims["transaction_data"]; ok {
		ids := make([]string, len(pr.query.Credentials))
		for i, c := range pr.query.Credentials {
			ids[i] = c.ID
		}
		if pr.txData, pr.txItems, err = txdata.ParseRequest(raw, ids); err != nil {
			return pr, fmt.Errorf("%w: %w: %v", ErrPresentationRequest, ErrTransactionData, err)
		}
		for i, it := range pr.txItems {
			for _, id := range it.CredentialIDs {
				if cq, _ := pr.query.Credential(id); !cq.HolderBinding() {
					return pr, fmt.Errorf("%w: %w: transaction_data[%d] names a credential query without key binding", ErrPresentationRequest, ErrTransactionData, i)
				}
			}
		}
	}
	return pr, nil
}

// TransactionData returns, as JSON, the transaction data the holder
// authorizes by answering, for the consent screen: an array of objects
// with type, credential_ids and summary ("[]" when there is none).
// Respond binds each to the first chosen credential it names.
func (pr *PresentationRequest) TransactionData() string {
	type shown struct {
		Type          string   `json:"type"`
		CredentialIDs []string `json:"credential_ids"`
		Summary       string   `json:"summary"`
	}
	out := make([]shown, 0, len(pr.txItems))
	for _, it := range pr.txItems {
		out = append(out, shown{Type: it.Type, CredentialIDs: it.CredentialIDs, Summary: it.Summary})
	}
	raw, _ := json.Marshal(out)
	return string(raw)
}

// encryptionKey picks the P-256 ECDH-ES key and enc of client_metadata.
// The key must name ECDH-ES in its alg: OpenID4VP 1.0 §8.3, "The alg
// parameter MUST be present in the JWKs. The JWE alg algorithm used MUST
// be equal to the alg value of the chosen jwk".
func (pr *PresentationRequest) encryptionKey(meta any) error {
	m, _ := meta.(map[string]any)
	pr.enc = jose.A128GCM
	if encs, ok := m["encrypted_response_enc_values_supported"].([]any); ok {
		switch {
		case slices.Contains(encs, any("A128GCM")):
		case slices.Contains(encs, any("A256GCM")):
			pr.enc = jose.A256GCM
		default:
			return reqErr("no supported encrypted_response_enc_values")
		}
	}
	jwks, _ := m["jwks"].(map[string]any)
	list, _ := jwks["keys"].([]any)
	for _, k := range list {
		raw, _ := json.Marshal(k)
		var jk jose.JSONWebKey
		if err := jk.UnmarshalJSON(raw); err != nil || jk.KeyID == "" {
			continue
		}
		if pub, ok := jk.Key.(*ecdsa.PublicKey); ok && pub.Curve.Params().Name == "P-256" && (jk.Use == "" || jk.Use == "enc") && jk.Algorithm == string(jose.ECDH_ES) {
			pr.encKey = &jk
			return nil
		}
	}
	return reqErr("direct_post.jwt needs a P-256 key with a kid and alg ECDH-ES in client_metadata.jwks")
}

// Claims returns the top-level claim names the request asks for,
// comma-separated, for the consent screen.
func (pr *PresentationRequest) Claims() string { return strings.Join(pr.query.ClaimNames(), ",") }

// match is one stored credential that meets a credential query, with
// the claim names on the paths it meets and the digests of the
// disclosures that present them.
type match struct {
	ID       string   `json:"credential"`
	Claims   []string `json:"claims"`
	disclose map[string]bool
}

func (pr *PresentationRequest) candidates(store CredentialStore) (map[string][]match, error) {
	ids, err := store.IDs()
	if err != nil {
		return nil, err
	}
	out := map[string][]match{}
	for _, id := range splitList(ids) {
		cred, err := store.Get(id)
		if err != nil {
			return nil, err
		}
		payload, ds, claims, err := holderView(cred)
		if err != nil {
			continue // a stored credential the wallet cannot read matches nothing
		}
		vct, _ := claims["vct"].(string)
		for _, cq := range pr.query.Credentials {
			if cq.Format != dcql.FormatSDJWTVC || !slices.Contains(cq.Meta.VCTValues, vct) || !pr.query.Allowed(cq.ID) {
				continue
			}
			met, ok := cq.Satisfied(claims)
			if !ok {
				continue
			}
			// Without claims, met is empty and nothing selectively
			// disclosable is sent: "If claims is absent, the Verifier is
			// requesting no claims that are selectively disclosable"
			// (OpenID4VP 1.0 §6.4.1).
			names := []string{}
			disclose := disclosing(payload, ds, met)
			for _, cl := range met {
				names = append(names, pathNames(cl.Path)...)
			}
			slices.Sort(names)
			out[cq.ID] = append(out[cq.ID], match{ID: id, Claims: slices.Compact(names), disclose: disclose})
		}
	}
	return out, nil
}

// Matches evaluates the DCQL query against store and returns, as JSON,
// each credential query id with the stored credentials that meet it and
// the claims each would disclose: {"pid": [{"credential": "c1",
// "claims": ["age_over_18"]}]}. Choose one credential per query for
// Respond.
func (pr *PresentationRequest) Matches(store CredentialStore) (string, error) {
	c, err := pr.candidates(store)
	if err != nil {
		return "", err
	}
	raw, err := json.Marshal(c)
	return string(raw), err
}

// pathNames returns the claim names along a path, for the holder's
// consent screen.
func pathNames(p dcql.Path) []string {
	var out []string
	for _, el := range p {
		if s, ok := el.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// holderView splits a stored SD-JWT VC and returns its issuer-signed
// payload, its disclosures and its claims with every disclosure applied
// (the wallet's own copy; the issuer signature is not checked here).
func holderView(cred string) (payload map[string]any, ds []*sdjwt.Disclosure, claims map[string]any, err error) {
	sd, err := sdjwt.Split(cred)
	if err != nil {
		return nil, nil, nil, err
	}
	parts := strings.Split(sd.JWT, ".")
	if len(parts) != 3 {
		return nil, nil, nil, sdjwt.ErrMalformed
	}
	raw, err := jwtSegment(parts[1])
	if err != nil {
		return nil, nil, nil, err
	}
	if payload, err = strictjson.Object(raw, sdjwt.Max); err != nil {
		return nil, nil, nil, err
	}
	if claims, err = sdjwt.Process(payload, sd.Disclosures); err != nil {
		return nil, nil, nil, err
	}
	return payload, sd.Disclosures, claims, nil
}

// disclosing returns the digests of the disclosures that present the
// claims met selects, and no other: "Wallets MUST NOT send selectively
// disclosable claims that have not been selected" (OpenID4VP 1.0 §6.4).
// For each element a path selects (§7.1.1) whose value the claim query
// accepts: the disclosures of the element and of the objects and array
// elements it is nested in (RFC 9901 §7: a disclosure is reached through
// its parents), and those within it (a selected object comes with its
// sub-claims).
func disclosing(payload map[string]any, ds []*sdjwt.Disclosure, met []dcql.ClaimQuery) map[string]bool {
	byDigest := make(map[string]*sdjwt.Disclosure, len(ds))
	for _, d := range ds {
		byDigest[d.Digest] = d
	}
	out := map[string]bool{}
	for _, cl := range met {
		for _, n := range selectSigned(payload, byDigest, cl.Path) {
			if cl.Accepts(n.value) {
				n.mark(out)
				within(n.value, byDigest, out)
			}
		}
	}
	return out
}

// signedNode is an element of a credential as its issuer signed it
// (digests in place), with the disclosures that reveal it.
type signedNode struct {
	value any
	via   []*sdjwt.Disclosure
}

func (n signedNode) mark(out map[string]bool) {
	for _, d := range n.via {
		out[d.Digest] = true
	}
}

// selectSigned processes a claims path pointer as dcql.Select does over
// the claims, but over the issuer-signed payload, every disclosure in
// byDigest applied as it is met; nil when the processing aborts.
func selectSigned(payload map[string]any, byDigest map[string]*sdjwt.Disclosure, p dcql.Path) []signedNode {
	cur := []signedNode{{value: payload}}
	for _, el := range p {
		var next []signedNode
		for _, n := range cur {
			switch e := el.(type) {
			case string:
				m, ok := n.value.(map[string]any)
				if !ok {
					return nil
				}
				if x, ok := m[e]; ok && e != "_sd" && e != "..." {
					next = append(next, signedNode{x, n.via})
				}
				for _, dg := range digests(m["_sd"]) {
					if d := byDigest[dg]; d != nil && !d.Array && d.Name == e {
						next = append(next, signedNode{d.Value, append(slices.Clip(n.via), d)})
					}
				}
			case nil, int:
				a, ok := n.value.([]any)
				if !ok {
					return nil
				}
				elems := elements(a, byDigest, n.via)
				if i, ok := e.(int); !ok {
					next = append(next, elems...)
				} else if i < len(elems) {
					next = append(next, elems[i])
				}
			default:
				return nil
			}
		}
		if len(next) == 0 {
			return nil
		}
		cur = next
	}
	return cur
}

// elements returns an issuer-signed array's elements as disclosed, as
// sdjwt.Process makes them: an element digest replaced by its disclosure's
// value, one with no disclosure (a decoy) left out.
func elements(a []any, byDigest map[string]*sdjwt.Disclosure, via []*sdjwt.Disclosure) []signedNode {
	out := make([]signedNode, 0, len(a))
	for _, x := range a {
		if m, ok := x.(map[string]any); ok && len(m) == 1 {
			if dg, ok := m["..."].(string); ok {
				if d := byDigest[dg]; d != nil && d.Array {
					out = append(out, signedNode{d.Value, append(slices.Clip(via), d)})
				}
				continue
			}
		}
		out = append(out, signedNode{x, via})
	}
	return out
}

// within adds to out the disclosures of every claim and array element
// inside an issuer-signed value.
func within(v any, byDigest map[string]*sdjwt.Disclosure, out map[string]bool) {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if k != "_sd" {
				within(x, byDigest, out)
				continue
			}
			for _, dg := range digests(x) {
				if d := byDigest[dg]; d != nil && !d.Array {
					out[dg] = true
					within(d.Value, byDigest, out)
				}
			}
		}
	case []any:
		for _, n := range elements(t, byDigest, nil) {
			n.mark(out)
			within(n.value, byDigest, out)
		}
	}
}

// digests returns the strings of an _sd array.
func digests(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func jwtSegment(s string) ([]byte, error) {
	return jwt.NewParser().DecodeSegment(s)
}

// Respond presents the holder's choice to the verifier: choice lists
// query-id=credential-id pairs, comma-separated ("pid=c1"), one per
// credential query the holder agrees to answer (optional credential sets
// may be left out). Each presentation discloses only the claims its query
// selects (see disclosing), with a KB-JWT (aud = client_id, the request's
// nonce). With a StoredCredentials store, a chosen credential stands for
// its batch: the verifier gets its own copy (see StoredCredentials) and
// the KB-JWT is signed by that copy's key; with another store, by the
// device key. It returns the redirect_uri the verifier answered, if any.
func (pr *PresentationRequest) Respond(store CredentialStore, choice string) (string, error) {
	cands, err := pr.candidates(store)
	if err != nil {
		return "", err
	}
	token := map[string][]string{}
	present := map[string]bool{}
	// Each transaction data object is authorized by exactly one
	// presentation: that of the first credential query it names that the
	// holder answers.
	chosen := map[string]bool{}
	for _, pair := range splitList(choice) {
		if qid, _, ok := strings.Cut(pair, "="); ok {
			if _, found := pr.query.Credential(qid); found && !pr.query.Allowed(qid) {
				// OpenID4VP 1.0 §6.4.2: with credential_sets, "the
				// Verifier requests presentations of Credentials to be
				// returned satisfying" them: a query in no option is
				// not asked for.
				return "", fmt.Errorf("%w: query %q is in no credential set option: the verifier does not ask for it", ErrInvalidArgument, qid)
			}
			if cq, found := pr.query.Credential(qid); found && chosen[qid] && !cq.Multiple {
				// OpenID4VP 1.0 §8.1: "When multiple is omitted, or set
				// to false, the array MUST contain only one
				// Presentation". Refused before any copy is picked.
				return "", fmt.Errorf("%w: query %q takes one credential (it does not ask for multiple)", ErrInvalidArgument, qid)
			}
			chosen[qid] = true
		}
	}
	bound := map[string]*sdjwt.KeyBinding{}
	for i, it := range pr.txItems {
		qid := ""
		for _, id := range it.CredentialIDs {
			if chosen[id] {
				qid = id
				break
			}
		}
		if qid == "" {
			return "", fmt.Errorf("%w: transaction_data[%d] needs one of the credentials %s", ErrInvalidArgument, i, strings.Join(it.CredentialIDs, ","))
		}
		alg, err := it.Alg()
		if err != nil {
			return "", err
		}
		h, err := txdata.Hash(pr.txData[i], alg)
		if err != nil {
			return "", err
		}
		kb := bound[qid]
		if kb == nil {
			kb = &sdjwt.KeyBinding{}
			bound[qid] = kb
		}
		kb.TransactionDataHashes = append(kb.TransactionDataHashes, h)
		if it.HashAlgs != nil {
			kb.TransactionDataHashesAlg = alg
		}
	}
	for _, pair := range splitList(choice) {
		qid, cid, ok := strings.Cut(pair, "=")
		if !ok {
			return "", fmt.Errorf("%w: choice must be query-id=credential-id pairs", ErrInvalidArgument)
		}
		alias := pr.holder.alias
		if bs, ok := store.(boundStore); ok {
			if cid, alias, err = bs.pick(cid, pr.ClientID); err != nil {
				return "", err
			}
		}
		signer, err := newStoreSigner(pr.holder.keys, alias)
		if err != nil {
			return "", err
		}
		var m *match
		for i := range cands[qid] {
			if cands[qid][i].ID == cid {
				m = &cands[qid][i]
			}
		}
		if m == nil {
			return "", fmt.Errorf("%w: credential %q does not meet query %q", ErrInvalidArgument, cid, qid)
		}
		cred, err := store.Get(cid)
		if err != nil {
			return "", err
		}
		sd, err := sdjwt.Split(cred)
		if err != nil {
			return "", err
		}
		keep := func(d *sdjwt.Disclosure) bool { return m.disclose[d.Digest] }
		kb := sdjwt.KeyBinding{Signer: signer, Audience: pr.ClientID, Nonce: pr.nonce, IssuedAt: pr.holder.clock()}
		if t := bound[qid]; t != nil {
			kb.TransactionDataHashes, kb.TransactionDataHashesAlg = t.TransactionDataHashes, t.TransactionDataHashesAlg
			delete(bound, qid) // the first presentation of the query carries them
		}
		pres, err := sd.Present(keep, &kb)
		if err != nil {
			return "", err
		}
		token[qid] = append(token[qid], pres)
		present[qid] = true
	}
	if !pr.query.SetsSatisfied(present) {
		return "", fmt.Errorf("%w: the choice does not answer every required credential query", ErrInvalidArgument)
	}
	return pr.post(map[string]any{"vp_token": token, "state": pr.state})
}

// Decline tells the verifier the holder refused (error access_denied).
func (pr *PresentationRequest) Decline() error {
	_, err := pr.post(map[string]any{"error": "access_denied", "state": pr.state})
	return err
}

// post sends the response parameters as direct_post or direct_post.jwt.
func (pr *PresentationRequest) post(params map[string]any) (string, error) {
	form := url.Values{}
	if pr.ResponseMode == "direct_post.jwt" {
		plain, err := json.Marshal(params)
		if err != nil {
			return "", err
		}
		enc, err := jose.NewEncrypter(pr.enc, jose.Recipient{Algorithm: jose.ECDH_ES, Key: pr.encKey.Key, KeyID: pr.encKey.KeyID}, nil)
		if err != nil {
			return "", err
		}
		obj, err := enc.Encrypt(plain)
		if err != nil {
			return "", err
		}
		compact, err := obj.CompactSerialize()
		if err != nil {
			return "", err
		}
		form.Set("response", compact)
	} else {
		for k, v := range params {
			if s, ok := v.(string); ok {
				form.Set(k, s)
				continue
			}
			raw, err := json.Marshal(v)
			if err != nil {
				return "", err
			}
			form.Set(k, string(raw))
		}
	}
	pr.holder.mu.Lock()
	client := pr.holder.client
	pr.holder.mu.Unlock()
	resp, err := client.Post(pr.ResponseURI, "application/x-www-form-urlencoded", bytes.NewReader([]byte(form.Encode())))
	if err != nil {
		return "", fmt.Errorf("wallet: posting the response: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return "", nodeError(resp.StatusCode, body)
	}
	var out struct {
		RedirectURI string `json:"redirect_uri"`
	}
	json.Unmarshal(body, &out)
	return out.RedirectURI, nil
}
