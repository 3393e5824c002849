package gm

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/big"
	"os"
	"reflect"
	"strings"
	"testing"
	"unsafe"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/sm4"
)

type vectors struct {
	SM3 []struct {
		Msg    string `json:"msg_ascii"`
		Digest string `json:"digest"`
	} `json:"sm3"`
	SM4 []struct {
		Key, Plaintext, Ciphertext string
		Iterations                 int
	} `json:"sm4"`
	SM2Sign []struct {
		PrivateKey string `json:"private_key"`
		PubX       string `json:"public_key_x"`
		PubY       string `json:"public_key_y"`
		UID        string `json:"user_id_ascii"`
		Msg        string `json:"msg_ascii"`
		ZA, E, K   string
		R, S       string
	} `json:"sm2_sign"`
}

func loadVectors(t testing.TB) vectors {
	t.Helper()
	b, err := os.ReadFile("testdata/gm.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.SM3) == 0 || len(v.SM4) == 0 || len(v.SM2Sign) == 0 {
		t.Fatal("testdata/gm.json: missing vectors")
	}
	return v
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSM3Vectors(t *testing.T) {
	for _, v := range loadVectors(t).SM3 {
		got := SM3([]byte(v.Msg))
		if !bytes.Equal(got[:], unhex(t, v.Digest)) {
			t.Errorf("SM3(%q) = %x, want %s", v.Msg, got, v.Digest)
		}
	}
}

func TestSM4Vectors(t *testing.T) {
	for _, v := range loadVectors(t).SM4 {
		block, err := sm4.NewCipher(unhex(t, v.Key))
		if err != nil {
			t.Fatal(err)
		}
		buf := unhex(t, v.Plaintext)
		n := max(v.Iterations, 1)
		for range n {
			block.Encrypt(buf, buf)
		}
		if !bytes.Equal(buf, unhex(t, v.Ciphertext)) {
			t.Errorf("SM4^%d = %x, want %s", n, buf, v.Ciphertext)
		}
	}
}

// TestSM2KnownAnswer checks GB/T 32918.5 Annex A: Z_A, e, the published
// signature verifies, and the signing equation with the published k
// reproduces (r, s) for our key and digest.
func TestSM2KnownAnswer(t *testing.T) {
	for _, v := range loadVectors(t).SM2Sign {
		priv, err := NewPrivateKey(unhex(t, v.PrivateKey))
		if err != nil {
			t.Fatal(err)
		}
		priv, err = priv.WithUID([]byte(v.UID))
		if err != nil {
			t.Fatal(err)
		}
		pub := priv.PublicKey()
		if !bytes.Equal(pub.Bytes()[1:33], unhex(t, v.PubX)) || !bytes.Equal(pub.Bytes()[33:], unhex(t, v.PubY)) {
			t.Fatalf("public key mismatch: %x", pub.Bytes())
		}
		if !bytes.Equal(pub.za[:], unhex(t, v.ZA)) {
			t.Errorf("Z_A = %x, want %s", pub.za, v.ZA)
		}
		e := pub.digest(nil, []byte(v.Msg))
		if !bytes.Equal(e, unhex(t, v.E)) {
			t.Errorf("e = %x, want %s", e, v.E)
		}
		sig := append(unhex(t, v.R), unhex(t, v.S)...)
		if err := pub.Verify([]byte(v.Msg), sig); err != nil {
			t.Errorf("published signature: %v", err)
		}
		// r = (e + x1) mod n, s = (1+d)^-1 (k - r d) mod n, (x1, y1) = [k]G.
		c := sm2.P256().Params()
		k := new(big.Int).SetBytes(unhex(t, v.K))
		x1, _ := sm2.P256().ScalarBaseMult(k.Bytes())
		r := new(big.Int).Add(new(big.Int).SetBytes(e), x1)
		r.Mod(r, c.N)
		d := new(big.Int).SetBytes(priv.Scalar())
		s := new(big.Int).Sub(k, new(big.Int).Mul(r, d))
		s.Mul(s, new(big.Int).ModInverse(new(big.Int).Add(d, big.NewInt(1)), c.N))
		s.Mod(s, c.N)
		if !bytes.Equal(r.FillBytes(make([]byte, 32)), unhex(t, v.R)) || !bytes.Equal(s.FillBytes(make([]byte, 32)), unhex(t, v.S)) {
			t.Errorf("signing equation with published k gives r=%x s=%x", r, s)
		}
		// A fresh signature by our signer verifies, and a tampered one does not.
		mine, err := priv.SignRaw(rand.Reader, []byte(v.Msg))
		if err != nil {
			t.Fatal(err)
		}
		if err := pub.Verify([]byte(v.Msg), mine); err != nil {
			t.Errorf("own signature: %v", err)
		}
		mine[10] ^= 1
		if err := pub.Verify([]byte(v.Msg), mine); !errors.Is(err, ErrInvalidSignature) {
			t.Errorf("tampered signature: got %v", err)
		}
		// The default-UID key does not verify a signature made for another UID.
		other, _ := NewPublicKey(pub.ECDSA(), []byte("ALICE123@YAHOO.COM"))
		if err := other.Verify([]byte(v.Msg), sig); err == nil {
			t.Error("signature verified under a different user ID")
		}
	}
}

func TestSM2SignatureEncodingRejected(t *testing.T) {
	k, _ := GenerateKey(rand.Reader)
	msg := []byte("payload")
	der, err := k.Sign(rand.Reader, msg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.PublicKey().VerifyASN1(msg, der); err != nil {
		t.Fatalf("DER verify: %v", err)
	}
	for name, sig := range map[string][]byte{
		"der":   der,
		"empty": nil,
		"63":    make([]byte, 63),
		"65":    make([]byte, 65),
		"huge":  make([]byte, 1<<20),
	} {
		if err := k.PublicKey().Verify(msg, sig); !errors.Is(err, ErrSignatureLength) {
			t.Errorf("%s: got %v, want ErrSignatureLength", name, err)
		}
	}
	if err := k.PublicKey().Verify(msg, make([]byte, 64)); !errors.Is(err, ErrInvalidSignature) {
		t.Errorf("zero r,s: got %v", err)
	}
	ff := bytes.Repeat([]byte{0xff}, 64) // r, s >= n
	if err := k.PublicKey().Verify(msg, ff); !errors.Is(err, ErrInvalidSignature) {
		t.Errorf("r,s >= n: got %v", err)
	}
}

func TestSignWithForeignSigner(t *testing.T) {
	// emmansun's own *sm2.PrivateKey stands in for an HSM handle: a
	// crypto.Signer that is not ours.
	raw, _ := sm2.GenerateKey(rand.Reader)
	sig, err := SignWith(rand.Reader, raw, []byte("m"))
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := NewPublicKey(&raw.PublicKey, nil)
	if err := pub.Verify([]byte("m"), sig); err != nil {
		t.Fatal(err)
	}
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if _, err := SignWith(rand.Reader, p256, []byte("m")); !errors.Is(err, ErrNotSM2Key) {
		t.Fatalf("P-256 signer: %v", err)
	}
}

func TestHMACSM3(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	mk, err := NewMACKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for _, msg := range []string{"", "abc", strings.Repeat("x", 200)} {
		want := HMACSM3(key, []byte(msg))
		if got := mk.Sum(nil, []byte(msg)); !bytes.Equal(got, want) {
			t.Errorf("MACKey.Sum(%q) = %x, want %x", msg, got, want)
		}
		if !mk.Verify([]byte(msg), want) || !mk.Verify([]byte(msg), want[:20]) {
			t.Error("Verify rejected a good MAC")
		}
		bad := append([]byte(nil), want...)
		bad[0] ^= 1
		if mk.Verify([]byte(msg), bad) || mk.Verify([]byte(msg), want[:8]) {
			t.Error("Verify accepted a bad or too-short MAC")
		}
	}
	if _, err := NewMACKey(key[:15]); !errors.Is(err, ErrShortMACKey) {
		t.Errorf("short key: %v", err)
	}
}

// TestMACKeyVerifyAllocates: checking a MAC allocates nothing (the
// digest's Sum writes into the pooled state, not the caller's buffer,
// which would escape through hash.Hash).
func TestMACKeyVerifyAllocates(t *testing.T) {
	mk, err := NewMACKey([]byte("0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("a client secret of forty-three bytes, say..")
	mac := mk.Sum(nil, msg)
	if n := testing.AllocsPerRun(100, func() {
		if !mk.Verify(msg, mac) {
			t.Fatal("Verify rejected a good MAC")
		}
	}); n != 0 && !raceEnabled {
		t.Errorf("MACKey.Verify: %v allocations, want 0", n)
	}
}

// TestVerifyAllocations: a verification's DER signature and digest come
// from a pool; what allocates is gmsm's own (five values in v0.41.1).
func TestVerifyAllocations(t *testing.T) {
	k, err := GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("header.claims")
	sig, err := k.SignRaw(rand.Reader, msg)
	if err != nil {
		t.Fatal(err)
	}
	pub := k.PublicKey()
	if n := testing.AllocsPerRun(20, func() {
		if err := pub.Verify(msg, sig); err != nil {
			t.Fatal(err)
		}
	}); n > 5 && !raceEnabled {
		t.Errorf("PublicKey.Verify: %v allocations, want gmsm's 5", n)
	}
}

// TestHMACSM3KnownAnswer pins HMAC-SM3 (RFC 2104 over SM3) to a value
// computed independently from the SM3 vectors: with a 64-byte key the
// construction reduces to two SM3 calls we can write out by hand.
func TestHMACSM3KnownAnswer(t *testing.T) {
	key := bytes.Repeat([]byte{0x0b}, 64)
	msg := []byte("Hi There")
	ipad, opad := make([]byte, 64), make([]byte, 64)
	for i := range key {
		ipad[i], opad[i] = key[i]^0x36, key[i]^0x5c
	}
	inner := SM3(append(ipad, msg...))
	want := SM3(append(opad, inner[:]...))
	if got := HMACSM3(key, msg); !bytes.Equal(got, want[:]) {
		t.Fatalf("HMAC-SM3 = %x, want %x", got, want)
	}
}

func TestSM4GCM(t *testing.T) {
	key := make([]byte, 16)
	rand.Read(key)
	sealed, err := Seal(rand.Reader, key, []byte("secret"), []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	pt, err := Open(key, sealed, []byte("aad"))
	if err != nil || string(pt) != "secret" {
		t.Fatalf("Open = %q, %v", pt, err)
	}
	if _, err := Open(key, sealed, []byte("other")); !errors.Is(err, ErrOpen) {
		t.Errorf("wrong aad: %v", err)
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := Open(key, sealed, []byte("aad")); !errors.Is(err, ErrOpen) {
		t.Errorf("tampered: %v", err)
	}
	if _, err := Open(key, sealed[:5], nil); !errors.Is(err, ErrOpen) {
		t.Errorf("truncated: %v", err)
	}
	if _, err := Seal(rand.Reader, key[:8], nil, nil); err == nil {
		t.Error("short SM4 key accepted")
	}
}

func TestPEMRoundTrip(t *testing.T) {
	for _, alg := range JWTAlgorithms {
		k, err := GenerateSigner(alg, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		p, err := MarshalPrivateKeyPEM(k)
		if err != nil {
			t.Fatal(alg, err)
		}
		back, err := ParsePrivateKeyPEM(p)
		if err != nil {
			t.Fatal(alg, err)
		}
		if a, _ := Alg(back.Public()); a != alg {
			t.Errorf("%s: parsed key is %s", alg, a)
		}
		pp, err := MarshalPublicKeyPEM(k.Public())
		if err != nil {
			t.Fatal(alg, err)
		}
		pub, err := ParsePublicKeyPEM(pp)
		if err != nil {
			t.Fatal(alg, err)
		}
		if a, _ := Alg(pub); a != alg {
			t.Errorf("%s: parsed public key is %s", alg, a)
		}
		if _, err := ParsePrivateKeyPEM(append(p, []byte("junk")...)); err == nil {
			t.Errorf("%s: trailing data accepted", alg)
		}
		if _, err := ParsePublicKeyPEM(p); err == nil {
			t.Errorf("%s: private PEM accepted as public", alg)
		}
	}
	if _, err := ParsePrivateKeyPEM([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("garbage DER: %v", err)
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if _, err := MarshalPrivateKey(p384); !errors.Is(err, ErrUnsupportedKey) {
		t.Errorf("P-384: %v", err)
	}
}

func TestJWKRoundTrip(t *testing.T) {
	var set JWKS
	for i, alg := range JWTAlgorithms {
		k, _ := GenerateSigner(alg, rand.Reader)
		j, err := NewJWK(k.Public(), string(rune('a'+i)))
		if err != nil {
			t.Fatal(err)
		}
		if j.Alg != alg {
			t.Errorf("alg = %s, want %s", j.Alg, alg)
		}
		set.Keys = append(set.Keys, j)
	}
	b, _ := json.Marshal(set)
	got, err := ParseJWKS(b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseJWKS(append(b, " \r\n\t"...)); err != nil {
		t.Errorf("JSON whitespace after the set: %v", err)
	}
	for _, j := range got.Keys {
		if _, err := j.PublicKey(); err != nil {
			t.Error(err)
		}
		if tp, err := j.Thumbprint(); err != nil || len(tp) != 43 {
			t.Errorf("thumbprint %q, %v", tp, err)
		}
	}
	bad := map[string]string{
		"private":    `{"keys":[{"kty":"EC","crv":"SM2","x":"` + set.Keys[0].X + `","y":"` + set.Keys[0].Y + `","d":"AA","kid":"a"}]}`,
		"off curve":  `{"keys":[{"kty":"EC","crv":"SM2","x":"` + set.Keys[0].X + `","y":"` + set.Keys[0].X + `","kid":"a"}]}`,
		"wrong crv":  `{"keys":[{"kty":"EC","crv":"P-256","x":"` + set.Keys[0].X + `","y":"` + set.Keys[0].Y + `","kid":"a"}]}`,
		"alg lie":    `{"keys":[{"kty":"EC","crv":"SM2","alg":"ES256","x":"` + set.Keys[0].X + `","y":"` + set.Keys[0].Y + `","kid":"a"}]}`,
		"dup kid":    `{"keys":[` + string(mustJSON(set.Keys[0])) + `,` + string(mustJSON(set.Keys[0])) + `]}`,
		"no kid":     `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + set.Keys[2].X + `"}]}`,
		"trailing":   string(b) + `{}`,
		"trailing }": string(b) + ` }`,
		"trailing ]": string(b) + `]`,
		"rsa":        `{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB","kid":"r"}]}`,
		"padding":    `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + set.Keys[2].X + `=","kid":"e"}]}`,
	}
	for name, doc := range bad {
		if _, err := ParseJWKS([]byte(doc)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func TestEd25519KeyLength(t *testing.T) {
	if _, err := NormalizePublicKey(ed25519.PublicKey(make([]byte, 31))); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("short Ed25519 key: %v", err)
	}
}

// TestHMACSM3LeavesNoSecret: the pooled state HMACSM3 leaves holds no byte
// of the key or of the message (a client secret is the message), the
// digest's block buffer included.
func TestHMACSM3LeavesNoSecret(t *testing.T) {
	st := &hmacState{h: NewSM3()}
	for _, n := range []int{60, 63, 127, 200} {
		key, msg := bytes.Repeat([]byte{0xa5}, 16), make([]byte, n)
		for i := range msg {
			msg[i] = byte('A' + i%26)
		}
		st.hmac(key, msg)
		d := reflect.ValueOf(st.h)
		mem := unsafe.Slice((*byte)(d.UnsafePointer()), d.Elem().Type().Size())
		state := append(append([]byte(nil), mem...), st.pad[:]...)
		state = append(state, st.inner[:]...)
		tail := msg[n-n%64:]
		if len(tail) > 40 {
			tail = tail[32:]
		}
		if i := bytes.Index(state, tail[len(tail)-8:]); i >= 0 {
			t.Errorf("%d-byte message: the pooled state still holds its last bytes at %d", n, i)
		}
		if bytes.Contains(state, key[:8]) {
			t.Errorf("%d-byte message: the pooled state still holds the key", n)
		}
	}
}
