package holder

import (
	"bytes"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/gm"
)

const node = "https://node.example:8443"

// TestDeviceProof: a proof made by NewDeviceProof checks for its key, its
// node and within its life; every other proof (one with crit too) fails
// with ErrDeviceProof.
func TestDeviceProof(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	for _, alg := range []string{gm.AlgSM2, gm.AlgES256} {
		dev, err := gm.GenerateSigner(alg, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		other, _ := gm.GenerateSigner(alg, rand.Reader)
		jti := rand.Text()
		proof, err := NewDeviceProof(dev, node, now, jti)
		if err != nil {
			t.Fatal(err)
		}
		p, err := CheckDeviceProof(node, dev.Public(), proof, now.Add(time.Minute))
		if err != nil || p.ID != jti || !p.Expires.Equal(now.Add(deviceProofLife)) {
			t.Fatalf("%s: %+v %v", alg, p, err)
		}
		sign := func(c jwt.RegisteredClaims, typ string, header ...any) string {
			m, _ := gm.SigningMethod(dev)
			tok := jwt.NewWithClaims(m, c)
			tok.Header["typ"] = typ
			for i := 0; i+1 < len(header); i += 2 {
				tok.Header[header[i].(string)] = header[i+1]
			}
			s, err := tok.SignedString(dev)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		claims := func(life time.Duration, id string) jwt.RegisteredClaims {
			return jwt.RegisteredClaims{Audience: jwt.ClaimStrings{node}, IssuedAt: jwt.NewNumericDate(now),
				ExpiresAt: jwt.NewNumericDate(now.Add(life)), ID: id}
		}
		for name, c := range map[string]struct {
			proof string
			pub   any
			at    time.Time
		}{
			"empty":      {"", dev.Public(), now},
			"too long":   {strings.Repeat("a", maxDeviceProof+1), dev.Public(), now},
			"other key":  {proof, other.Public(), now},
			"other node": {proof, dev.Public(), now},
			"stale":      {proof, dev.Public(), now.Add(time.Hour)},
			"typ":        {sign(claims(time.Minute, jti), "JWT"), dev.Public(), now},
			"long life":  {sign(claims(MaxDeviceProofLife+time.Second, jti), DeviceProofType), dev.Public(), now},
			"short jti":  {sign(claims(time.Minute, "short"), DeviceProofType), dev.Public(), now},
			"long jti":   {sign(claims(time.Minute, strings.Repeat("j", 129)), DeviceProofType), dev.Public(), now},
			// Signed and otherwise good, but larger than the node reads.
			"too large": {sign(claims(time.Minute, jti), DeviceProofType, "pad", strings.Repeat("p", maxDeviceProof)), dev.Public(), now},
			// Past its exp by a minute: beyond the 30 s leeway.
			"expired": {proof, dev.Public(), now.Add(deviceProofLife + time.Minute)},
			"no exp":  {sign(jwt.RegisteredClaims{Audience: jwt.ClaimStrings{node}, IssuedAt: jwt.NewNumericDate(now), ID: jti}, DeviceProofType), dev.Public(), now},
			"no iat":  {sign(jwt.RegisteredClaims{Audience: jwt.ClaimStrings{node}, ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)), ID: jti}, DeviceProofType), dev.Public(), now},
			"iat in the future": {sign(jwt.RegisteredClaims{Audience: jwt.ClaimStrings{node}, IssuedAt: jwt.NewNumericDate(now.Add(10 * time.Minute)),
				ExpiresAt: jwt.NewNumericDate(now.Add(11 * time.Minute)), ID: jti}, DeviceProofType), dev.Public(), now},
			// Both within the leeway of now, exp before iat.
			"exp before iat": {sign(jwt.RegisteredClaims{Audience: jwt.ClaimStrings{node}, IssuedAt: jwt.NewNumericDate(now.Add(20 * time.Second)),
				ExpiresAt: jwt.NewNumericDate(now.Add(10 * time.Second)), ID: jti}, DeviceProofType), dev.Public(), now},
			"no signature": {proof[:strings.LastIndexByte(proof, '.')+1], dev.Public(), now},
			// RFC 7515 §4.1.11: the node understands no JWS extension.
			"crit": {sign(claims(time.Minute, jti), DeviceProofType, "crit", []string{"urn:example:x"}, "urn:example:x", true), dev.Public(), now},
		} {
			aud := node
			if name == "other node" {
				aud = "https://elsewhere.example"
			}
			if _, err := CheckDeviceProof(aud, c.pub, c.proof, c.at); !errors.Is(err, ErrDeviceProof) {
				t.Errorf("%s %s: %v, want ErrDeviceProof", alg, name, err)
			}
		}
	}
}

// TestPINAAD: the AAD is the domain, the subject and the thumbprint, so a
// verifier sealed for one binding opens for no other.
func TestPINAAD(t *testing.T) {
	got := PINAAD([]byte{1, 2}, "th")
	if want := []byte("TrustID/binding-pin/v1\x00\x01\x02th"); !bytes.Equal(got, want) {
		t.Errorf("PINAAD = %q, want %q", got, want)
	}
	if SubjectURI([]byte{0xab, 0x01}) != "urn:trustid:subject:ab01" {
		t.Error(SubjectURI([]byte{0xab, 0x01}))
	}
}
