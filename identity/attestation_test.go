package identity

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/testredis"
	"github.com/trustid-cn/trustid/store"
	redisstore "github.com/trustid-cn/trustid/store/redis"
)

var (
	_ ReplayGuard    = (*store.Memory)(nil)
	_ ReplayGuard    = (*redisstore.Store)(nil)
	_ AttemptLimiter = (*store.Memory)(nil)
	_ AttemptLimiter = (*redisstore.Store)(nil)
)

// attestFixture is a registry with an SM2 and a P-256 terminal, a revoked
// one, an in-memory store on the test clock and a verifier.
type attestFixture struct {
	reg       *memTerminals
	store     *store.Memory
	verifier  *AttestationVerifier
	sm2, p256 *Attester
	revoked   *Attester
	unknown   *Attester
	doc       Document
	name      string
	device    crypto.PublicKey // the device key being enrolled
	now       time.Time
}

// Audience and region of the node in the attestation fixture.
const (
	testAudience = "https://sh.trustid.example"
	testRegion   = "310000"
)

func newAttestFixture(t testing.TB) *attestFixture {
	t.Helper()
	ctx := context.Background()
	f := &attestFixture{now: testNow, name: "张三", doc: mustParse(t, "11010519491231002X"), device: sm2Key(t).Public()}
	reg := &memTerminals{}
	f.reg = reg
	clock := func() time.Time { return f.now }
	add := func(id string, signer crypto.Signer) *Attester {
		tm, err := NewTerminal(id, "terminal "+id, "310104", signer.Public(), testNow)
		if err != nil {
			t.Fatal(err)
		}
		if err := reg.Add(ctx, tm); err != nil {
			t.Fatal(err)
		}
		return &Attester{TerminalID: id, Audience: testAudience, Signer: signer, Now: clock}
	}
	f.sm2 = add("counter-sm2", sm2Key(t))
	f.p256 = add("kiosk-p256", p256Key(t))
	f.revoked = add("old-counter", sm2Key(t))
	if err := reg.Revoke(ctx, "old-counter", testNow); err != nil {
		t.Fatal(err)
	}
	f.unknown = &Attester{TerminalID: "never-registered", Audience: testAudience, Signer: sm2Key(t), Now: clock}
	st, err := store.NewMemory(store.MemoryOptions{Now: clock, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f.store = st
	f.verifier = &AttestationVerifier{Terminals: reg, Replay: st, Audience: testAudience, Region: testRegion,
		Algorithms: []string{gm.AlgSM2, gm.AlgES256}, Now: clock}
	return f
}

var face = Liveness{Method: LivenessFaceMatch, Passed: true, Score: 0.93}

func (f *attestFixture) attest(t testing.TB, a *Attester) string {
	t.Helper()
	tok, err := a.Attest(f.doc, f.name, f.device, face, true)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestAttestation(t *testing.T) {
	ctx := context.Background()
	for _, alg := range []string{gm.AlgSM2, gm.AlgES256} {
		t.Run(alg, func(t *testing.T) {
			f := newAttestFixture(t)
			a := f.sm2
			if alg == gm.AlgES256 {
				a = f.p256
			}
			tok := f.attest(t, a)
			// The token carries neither the number nor the name.
			for _, part := range strings.Split(tok, ".")[:2] {
				raw, _ := base64.RawURLEncoding.DecodeString(part)
				if strings.Contains(string(raw), "11010519491231002X") || strings.Contains(string(raw), f.name) || strings.Contains(string(raw), "110105") {
					t.Fatalf("attestation shows personal data: %s", raw)
				}
			}
			hdr, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
			var h map[string]string
			json.Unmarshal(hdr, &h)
			if h["alg"] != alg || h["typ"] != AttestationType || h["kid"] != a.TerminalID || len(h) != 3 {
				t.Fatalf("header %s", hdr)
			}
			// The name is compared in canonical form.
			got, err := f.verifier.Verify(ctx, f.doc, " 张三 ", f.device, tok)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Verified() || !got.Biometric() || got.TerminalID != a.TerminalID || got.TerminalRegion != "310104" ||
				!got.ChipRead || got.Liveness != face || !got.IssuedAt.Equal(testNow.Truncate(time.Second)) ||
				got.Expiry.Sub(got.IssuedAt) != DefaultAttestationTTL {
				t.Fatalf("attestation %+v", got)
			}
			// Single use.
			if _, err := f.verifier.Verify(ctx, f.doc, f.name, f.device, tok); !errors.Is(err, ErrAttestationReplayed) {
				t.Fatalf("replay: %v", err)
			}
		})
	}
}

func TestAttestationErrors(t *testing.T) {
	ctx := context.Background()
	f := newAttestFixture(t)
	other := mustParse(t, id18("31011519850214002"))
	legacy := mustParse(t, "110105491231002") // the same person as f.doc
	otherSigner := &Attester{TerminalID: f.sm2.TerminalID, Audience: testAudience, Signer: sm2Key(t), Now: f.sm2.Now}
	officerFail := Liveness{Method: LivenessOfficer, Passed: false}
	lowScore := Liveness{Method: LivenessFaceMatch, Passed: true, Score: 0.5}

	type tc struct {
		name  string
		token func() string
		doc   Document
		pname string
		setup func(v *AttestationVerifier)
		want  error
	}
	tamper := func(tok string, part int, edit func(map[string]any)) string {
		parts := strings.Split(tok, ".")
		raw, _ := base64.RawURLEncoding.DecodeString(parts[part])
		var m map[string]any
		json.Unmarshal(raw, &m)
		edit(m)
		b, _ := json.Marshal(m)
		parts[part] = base64.RawURLEncoding.EncodeToString(b)
		return strings.Join(parts, ".")
	}
	rawPart := func(tok string, part int, body string) string {
		parts := strings.Split(tok, ".")
		parts[part] = base64.RawURLEncoding.EncodeToString([]byte(body))
		return strings.Join(parts, ".")
	}
	good := func() string { return f.attest(t, f.sm2) }
	cases := []tc{
		{name: "unknown terminal", token: func() string { return f.attest(t, f.unknown) }, want: ErrUnknownTerminal},
		{name: "revoked terminal", token: func() string { return f.attest(t, f.revoked) }, want: ErrTerminalRevoked},
		{name: "signed by another key", token: func() string { return f.attest(t, otherSigner) }, want: ErrAttestationSignature},
		{name: "payload altered", token: func() string {
			return tamper(good(), 1, func(m map[string]any) { m["chip_read"] = false })
		}, want: ErrAttestationSignature},
		{name: "signature zeroed", token: func() string {
			tok := good()
			return tok[:strings.LastIndex(tok, ".")+1] + base64.RawURLEncoding.EncodeToString(make([]byte, 64))
		}, want: ErrAttestationSignature},
		{name: "signature as DER", token: func() string {
			tok := good()
			return tok[:strings.LastIndex(tok, ".")+1] + base64.RawURLEncoding.EncodeToString(make([]byte, 70))
		}, want: ErrAttestationSignature},
		{name: "signature not base64", token: func() string { tok := good(); return tok[:len(tok)-1] + "*" }, want: ErrAttestationMalformed},
		{name: "alg not allowed", token: func() string { return f.attest(t, f.p256) }, setup: func(v *AttestationVerifier) { v.Algorithms = []string{gm.AlgSM2} }, want: ErrAttestationSignature},
		{name: "alg not the terminal's", token: func() string {
			return tamper(good(), 0, func(m map[string]any) { m["alg"] = "ES256" })
		}, want: ErrAttestationSignature},
		{name: "alg none", token: func() string {
			return tamper(good(), 0, func(m map[string]any) { m["alg"] = "none" })
		}, want: ErrAttestationSignature},
		{name: "expired", token: func() string {
			tok := good()
			f.now = f.now.Add(DefaultAttestationTTL + DefaultAttestationLeeway + time.Second)
			return tok
		}, want: ErrAttestationExpired},
		{name: "at exp + leeway", token: func() string { // RFC 7519 §4.1.4: not on or after exp
			tok := good()
			f.now = f.now.Add(DefaultAttestationTTL + DefaultAttestationLeeway)
			return tok
		}, want: ErrAttestationExpired},
		{name: "from the future", token: func() string {
			f.now = f.now.Add(time.Minute)
			tok := good()
			f.now = f.now.Add(-time.Minute)
			return tok
		}, want: ErrAttestationEarly},
		{name: "lifetime too long", token: func() string {
			a := *f.sm2
			a.TTL = time.Hour
			return f.attest(t, &a)
		}, want: ErrAttestationMalformed},
		{name: "different number", token: good, doc: other, want: ErrAttestationPerson},
		{name: "different name", token: good, pname: "张四", want: ErrAttestationPerson},
		{name: "invalid name", token: good, pname: "  ", want: ErrInvalidName},
		{name: "liveness failed", token: func() string {
			tok, err := f.sm2.Attest(f.doc, f.name, f.device, officerFail, false)
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}, want: ErrAttestationLiveness},
		{name: "score below minimum", token: func() string {
			tok, _ := f.sm2.Attest(f.doc, f.name, f.device, lowScore, true)
			return tok
		}, setup: func(v *AttestationVerifier) { v.MinFaceScore = 0.8 }, want: ErrAttestationLiveness},
		{name: "wrong typ", token: func() string {
			return tamper(good(), 0, func(m map[string]any) { m["typ"] = "JWT" })
		}, want: ErrAttestationMalformed},
		{name: "extra header", token: func() string {
			return tamper(good(), 0, func(m map[string]any) { m["crit"] = []string{"x"} })
		}, want: ErrAttestationMalformed},
		{name: "repeated header member", token: func() string {
			return rawPart(good(), 0, `{"alg":"SM2","typ":"`+AttestationType+`","kid":"counter-sm2","kid":"kiosk-p256"}`)
		}, want: ErrAttestationMalformed},
		{name: "repeated claim", token: func() string {
			tok := good()
			raw, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
			return rawPart(tok, 1, strings.Replace(string(raw), `{`, `{"chip_read":false,`, 1))
		}, want: ErrAttestationMalformed},
		// encoding/json matches member names case-insensitively: a header
		// or claim repeated in another case, or named in another case, is
		// malformed (refused before the signature is checked).
		{name: "header member repeated in another case", token: func() string {
			return rawPart(good(), 0, `{"alg":"SM2","typ":"`+AttestationType+`","kid":"counter-sm2","KID":"counter-sm2"}`)
		}, want: ErrAttestationMalformed},
		{name: "header member in another case", token: func() string {
			return rawPart(good(), 0, `{"alg":"SM2","typ":"`+AttestationType+`","Kid":"counter-sm2"}`)
		}, want: ErrAttestationMalformed},
		{name: "claim repeated in another case", token: func() string {
			tok := good()
			raw, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
			return rawPart(tok, 1, strings.Replace(string(raw), `{`, `{"CHIP_READ":false,`, 1))
		}, want: ErrAttestationMalformed},
		{name: "nested claim repeated in another case", token: func() string {
			tok := good()
			raw, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
			return rawPart(tok, 1, strings.Replace(string(raw), `"liveness":{`, `"liveness":{"PASSED":false,`, 1))
		}, want: ErrAttestationMalformed},
		{name: "unknown claim", token: func() string {
			return tamper(good(), 1, func(m map[string]any) { m["name"] = "张三" })
		}, want: ErrAttestationMalformed},
		{name: "missing jti", token: func() string {
			return tamper(good(), 1, func(m map[string]any) { delete(m, "jti") })
		}, want: ErrAttestationMalformed},
		{name: "iss not kid", token: func() string {
			return tamper(good(), 1, func(m map[string]any) { m["iss"] = "kiosk-p256" })
		}, want: ErrAttestationMalformed},
		{name: "bad liveness", token: func() string {
			return tamper(good(), 1, func(m map[string]any) { m["liveness"] = map[string]any{"method": "vibes", "passed": true} })
		}, want: ErrAttestationMalformed},
		{name: "too long", token: func() string { return good() + strings.Repeat("A", MaxAttestationLen) }, want: ErrAttestationMalformed},
		{name: "two segments", token: func() string { return "a.b" }, want: ErrAttestationMalformed},
		{name: "four segments", token: func() string { return good() + ".x" }, want: ErrAttestationMalformed},
		{name: "empty", token: func() string { return "" }, want: ErrAttestationMalformed},
		{name: "padded base64", token: func() string {
			parts := strings.Split(good(), ".")
			return parts[0] + "=." + parts[1] + "." + parts[2]
		}, want: ErrAttestationMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f.now = testNow
			v := *f.verifier
			if c.setup != nil {
				c.setup(&v)
			}
			tok := c.token()
			doc, name := f.doc, f.name
			if !c.doc.IsZero() {
				doc = c.doc
			}
			if c.pname != "" {
				name = c.pname
			}
			n := f.store.Len()
			_, err := v.Verify(ctx, doc, name, f.device, tok)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			if code, ok := CodeOf(err); !ok || code.Sentinel() == nil {
				t.Errorf("error %v has no code", err)
			}
			if strings.Contains(err.Error(), "11010519491231002X") || strings.Contains(err.Error(), "张") {
				t.Errorf("error shows personal data: %v", err)
			}
			if f.store.Len() != n {
				t.Error("a failed check wrote to the store")
			}
		})
	}
	// The legacy number of the same person matches (normalized number).
	f.now = testNow
	if _, err := f.verifier.Verify(ctx, legacy, f.name, f.device, good()); err != nil {
		t.Errorf("legacy number: %v", err)
	}
	// A failed check does not use the attestation up.
	tok := good()
	if _, err := f.verifier.Verify(ctx, other, f.name, f.device, tok); !errors.Is(err, ErrAttestationPerson) {
		t.Fatal(err)
	}
	if _, err := f.verifier.Verify(ctx, f.doc, f.name, f.device, tok); err != nil {
		t.Fatalf("after a failed check: %v", err)
	}
	// Misconfigured verifiers.
	for _, v := range []*AttestationVerifier{
		{Terminals: f.reg, Replay: f.store, Audience: testAudience, Region: testRegion},
		{Terminals: f.reg, Replay: f.store, Audience: testAudience, Region: testRegion, Algorithms: []string{"none"}},
		{Terminals: f.reg, Replay: f.store, Audience: testAudience, Region: testRegion, Algorithms: []string{gm.AlgEdDSA}},
		{Replay: f.store, Audience: testAudience, Region: testRegion, Algorithms: []string{gm.AlgSM2}},
		{Terminals: f.reg, Audience: testAudience, Region: testRegion, Algorithms: []string{gm.AlgSM2}},
		{Terminals: f.reg, Replay: f.store, Region: testRegion, Algorithms: []string{gm.AlgSM2}},
		{Terminals: f.reg, Replay: f.store, Audience: testAudience, Algorithms: []string{gm.AlgSM2}},
		{Terminals: f.reg, Replay: f.store, Audience: testAudience, Region: "31", Algorithms: []string{gm.AlgSM2}},
	} {
		if _, err := v.Verify(ctx, f.doc, f.name, f.device, good()); err == nil {
			t.Errorf("misconfigured verifier %+v accepted", v)
		} else if _, ok := CodeOf(err); ok {
			t.Errorf("configuration error %v has an input code", err)
		}
	}
}

// TestAttestationBinding: an attestation is good for the device key and
// the node it was made for, from a terminal inside the node's region.
func TestAttestationBinding(t *testing.T) {
	ctx := context.Background()
	f := newAttestFixture(t)
	deviceB := p256Key(t).Public()
	jsKey := sm2Key(t)
	tm, err := NewTerminal("nanjing-1", "Nanjing counter 1", "320102", jsKey.Public(), testNow)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.reg.Add(ctx, tm); err != nil {
		t.Fatal(err)
	}
	nanjing := &Attester{TerminalID: "nanjing-1", Audience: testAudience, Signer: jsKey, Now: f.sm2.Now}
	otherNode := *f.sm2
	otherNode.Audience = "https://js.trustid.example"
	attest := func(a *Attester, device crypto.PublicKey) string {
		t.Helper()
		tok, err := a.Attest(f.doc, f.name, device, face, true)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	jsVerifier := *f.verifier
	jsVerifier.Region, jsVerifier.Audience = "320000", "https://js.trustid.example"
	for _, c := range []struct {
		name   string
		v      *AttestationVerifier
		token  string
		device crypto.PublicKey
		want   error
		code   Code
	}{
		{"made for device A, presented with device B", f.verifier, attest(f.sm2, f.device), deviceB, ErrAttestationDevice, CodeAttestationWrongDevice},
		{"made for device A, presented without a device", f.verifier, attest(f.sm2, f.device), nil, ErrAttestationDevice, CodeAttestationWrongDevice},
		{"made without a device, presented with one", f.verifier, attest(f.sm2, nil), f.device, ErrAttestationDevice, CodeAttestationWrongDevice},
		{"made for another node", f.verifier, attest(&otherNode, f.device), f.device, ErrAttestationAudience, CodeAttestationWrongAudience},
		{"made for this node, presented at another", &jsVerifier, attest(f.sm2, f.device), f.device, ErrAttestationAudience, CodeAttestationWrongAudience},
		{"terminal of another region", f.verifier, attest(nanjing, f.device), f.device, ErrAttestationRegion, CodeAttestationWrongRegion},
		{"terminal outside the presenting node's region", &jsVerifier, attest(&otherNode, f.device), f.device, ErrAttestationRegion, CodeAttestationWrongRegion},
		{"device key not SM2 or P-256", f.verifier, attest(f.sm2, f.device), ed25519Public(t), ErrAttestationDevice, CodeAttestationWrongDevice},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := f.store.Len()
			_, err := c.v.Verify(ctx, f.doc, f.name, c.device, c.token)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			if code, _ := CodeOf(err); code != c.code {
				t.Errorf("code %s, want %s", code, c.code)
			}
			if f.store.Len() != n {
				t.Error("a refused attestation was used up")
			}
		})
	}

	// The right device, node and region pass: an SM2 and a P-256 device,
	// and a counter enrollment without a device.
	for _, device := range []crypto.PublicKey{f.device, deviceB, nil} {
		got, err := f.verifier.Verify(ctx, f.doc, f.name, device, attest(f.sm2, device))
		if err != nil {
			t.Fatalf("device %T: %v", device, err)
		}
		want := ""
		if device != nil {
			want, _ = DeviceThumbprint(device)
		}
		if got.Audience != testAudience || got.DeviceThumbprint != want {
			t.Errorf("attestation %+v", got)
		}
	}
	// A Nanjing terminal enrolls at the Jiangsu node.
	jsNode := *nanjing
	jsNode.Audience = jsVerifier.Audience
	if _, err := jsVerifier.Verify(ctx, f.doc, f.name, f.device, attest(&jsNode, f.device)); err != nil {
		t.Errorf("Jiangsu terminal at the Jiangsu node: %v", err)
	}

	// The claims are strict: aud one string, cnf exactly {jkt}.
	for name, edit := range map[string]func(map[string]any){
		"aud array":   func(m map[string]any) { m["aud"] = []string{testAudience} },
		"aud missing": func(m map[string]any) { delete(m, "aud") },
		"cnf with jwk": func(m map[string]any) {
			m["cnf"] = map[string]any{"jkt": m["cnf"].(map[string]any)["jkt"], "jwk": map[string]any{}}
		},
		"jkt too short": func(m map[string]any) { m["cnf"] = map[string]any{"jkt": "AAAA"} },
	} {
		tok := attest(f.sm2, f.device)
		parts := strings.Split(tok, ".")
		raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
		var m map[string]any
		json.Unmarshal(raw, &m)
		edit(m)
		b, _ := json.Marshal(m)
		parts[1] = base64.RawURLEncoding.EncodeToString(b)
		if _, err := f.verifier.Verify(ctx, f.doc, f.name, f.device, strings.Join(parts, ".")); !errors.Is(err, ErrAttestationMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}

	// The attester needs an audience and a device key it can bind.
	noAud := *f.sm2
	noAud.Audience = ""
	if _, err := noAud.Attest(f.doc, f.name, f.device, face, true); !errors.Is(err, ErrInvalidTerminal) {
		t.Errorf("attester without audience: %v", err)
	}
	if _, err := f.sm2.Attest(f.doc, f.name, ed25519Public(t), face, true); !errors.Is(err, ErrAttestationDevice) {
		t.Errorf("Ed25519 device: %v", err)
	}
}

func TestInRegion(t *testing.T) {
	for _, c := range []struct {
		term, node string
		want       bool
	}{
		{"310104", "310000", true},
		{"310000", "310000", true},
		{"320102", "310000", false},
		{"320502", "320500", true},
		{"320102", "320500", false},
		{"310104", "000000", false},
	} {
		if got := inRegion(c.term, c.node); got != c.want {
			t.Errorf("inRegion(%s, %s) = %v", c.term, c.node, got)
		}
	}
}

func ed25519Public(t testing.TB) crypto.PublicKey {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// failingStore fails every call, as a store that is down does.
type failingStore struct{}

func (failingStore) MarkUsed(context.Context, string, time.Duration) error {
	return errors.New("connection refused")
}

type failingDirectory struct{}

func (failingDirectory) Terminal(context.Context, string) (Terminal, error) {
	return Terminal{}, errors.New("registry unavailable")
}

// TestAttestationInfrastructureErrors: a store or registry failure is not
// reported as bad input.
func TestAttestationInfrastructureErrors(t *testing.T) {
	f := newAttestFixture(t)
	for _, v := range []AttestationVerifier{
		{Terminals: f.reg, Replay: failingStore{}, Audience: testAudience, Region: testRegion, Algorithms: []string{gm.AlgSM2}, Now: f.verifier.Now},
		{Terminals: failingDirectory{}, Replay: f.store, Audience: testAudience, Region: testRegion, Algorithms: []string{gm.AlgSM2}, Now: f.verifier.Now},
	} {
		_, err := v.Verify(context.Background(), f.doc, f.name, f.device, f.attest(t, f.sm2))
		if err == nil {
			t.Fatal("accepted")
		}
		if code, ok := CodeOf(err); ok {
			t.Errorf("infrastructure error %v reported as %s", err, code)
		}
	}
}

// TestAttestationSingleUseAcrossInstances: two verifiers (two instances of
// a region) sharing one real Redis; of concurrent presentations of one
// attestation exactly one succeeds.
func TestAttestationSingleUseAcrossInstances(t *testing.T) {
	client := testredis.StartClient(t)
	f := newAttestFixture(t)
	var verifiers []*AttestationVerifier
	for i := 0; i < 2; i++ {
		r, err := redisstore.New(client, redisstore.Options{Prefix: "trustid:310000:"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.InitEpoch(t.Context()); err != nil { // a new server: its replay history is complete
			t.Fatal(err)
		}
		v := *f.verifier
		v.Replay = r
		v.Now = time.Now
		verifiers = append(verifiers, &v)
	}
	f.now = time.Now()
	tok := f.attest(t, f.sm2)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, replayed := 0, 0
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func(v *AttestationVerifier) {
			defer wg.Done()
			_, err := v.Verify(context.Background(), f.doc, f.name, f.device, tok)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, ErrAttestationReplayed):
				replayed++
			default:
				t.Error(err)
			}
		}(verifiers[i%2])
	}
	wg.Wait()
	if ok != 1 || replayed != 15 {
		t.Errorf("%d accepted, %d replayed", ok, replayed)
	}
	// The marker holds no jti or terminal in clear.
	keys, _ := client.Keys(context.Background(), "*").Result()
	for _, k := range keys {
		if strings.Contains(k, "counter-sm2") || strings.Contains(k, "attestation") {
			t.Errorf("stored key %q shows the attestation", k)
		}
	}
}

func TestCanonicalName(t *testing.T) {
	for in, want := range map[string]string{
		"张三":                    "张三",
		"  张三\t":                "张三",
		"Eriksson  Anna\nMaria": "ERIKSSON ANNA MARIA",
		"阿卜杜拉·买买提":              "阿卜杜拉·买买提",
		"阿卜杜拉・买买提":              "阿卜杜拉·买买提",
		"müller":                "MÜLLER",
		"mu\u0308ller":          "MÜLLER",
	} {
		if got, err := CanonicalName(in); err != nil || got != want {
			t.Errorf("CanonicalName(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "   ", "a\x00b", "a\x7fb", "\xff", strings.Repeat("名", 67), "张\u202e三"} {
		if _, err := CanonicalName(in); !errors.Is(err, ErrInvalidName) {
			t.Errorf("CanonicalName(%q): %v", in, err)
		}
	}
}

func TestAttesterInput(t *testing.T) {
	f := newAttestFixture(t)
	if _, err := f.sm2.Attest(Document{}, f.name, f.device, face, true); err == nil {
		t.Error("zero document")
	}
	if _, err := f.sm2.Attest(f.doc, "", f.device, face, true); !errors.Is(err, ErrInvalidName) {
		t.Errorf("empty name: %v", err)
	}
	for _, lv := range []Liveness{{Method: "x", Passed: true}, {Method: LivenessFaceMatch, Score: 1.5}, {Method: LivenessOfficer, Passed: true, Score: 0.5}} {
		if _, err := f.sm2.Attest(f.doc, f.name, f.device, lv, true); !errors.Is(err, ErrAttestationMalformed) {
			t.Errorf("liveness %+v: %v", lv, err)
		}
	}
	bad := *f.sm2
	bad.TerminalID = "bad id"
	if _, err := bad.Attest(f.doc, f.name, f.device, face, true); !errors.Is(err, ErrInvalidTerminal) {
		t.Errorf("bad terminal ID: %v", err)
	}
	bad = *f.sm2
	bad.Signer = nil
	if _, err := bad.Attest(f.doc, f.name, f.device, face, true); !errors.Is(err, ErrInvalidTerminal) {
		t.Errorf("no signer: %v", err)
	}
}

func FuzzVerifyAttestation(f *testing.F) {
	fx := newAttestFixture(f)
	fx.verifier.Replay = noReplay{}
	tok := fx.attest(f, fx.sm2)
	f.Add(tok)
	f.Add(fx.attest(f, fx.p256))
	f.Add(tok[:len(tok)/2])
	f.Add("e30.e30.")
	f.Add("..")
	f.Fuzz(func(t *testing.T, token string) {
		a, err := fx.verifier.Verify(context.Background(), fx.doc, fx.name, fx.device, token)
		if err != nil {
			if _, ok := CodeOf(err); !ok {
				t.Fatalf("error without a code: %v", err)
			}
			return
		}
		if !a.Verified() || a.TerminalID == "" {
			t.Fatalf("accepted %+v", a)
		}
	})
}

// noReplay accepts every marker, so the fuzzer can present one token many
// times.
type noReplay struct{}

func (noReplay) MarkUsed(context.Context, string, time.Duration) error { return nil }

func BenchmarkVerifyAttestation(b *testing.B) {
	f := newAttestFixture(b)
	f.verifier.Replay = noReplay{}
	tok := f.attest(b, f.sm2)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.verifier.Verify(ctx, f.doc, f.name, f.device, tok); err != nil {
			b.Fatal(err)
		}
	}
}
