package fabric_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/ledger/fabric"
)

func TestLoadProfile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "cert.pem"), []byte("CERT"), 0o600)
	os.WriteFile(filepath.Join(dir, "ca.pem"), []byte("CA"), 0o600)
	profile := `
name: trustid-310000
version: 1.0.0
client:
  organization: Region310000
organizations:
  Region310000:
    mspid: Region310000MSP
    peers: [peer0.r310000]
    signedCert: {path: cert.pem}
    adminPrivateKey: {pem: "KEY"}
peers:
  peer0.r310000:
    url: grpcs://127.0.0.1:27051
    tlsCACerts: {path: ca.pem}
    grpcOptions: {ssl-target-name-override: peer0.r310000.trustid.local}
certificateAuthorities: {ca: {url: "https://ca"}}
channels:
  trustid: {peers: {peer0.r310000: {}}}
`
	path := filepath.Join(dir, "p.yaml")
	os.WriteFile(path, []byte(profile), 0o600)
	cfg, err := fabric.LoadProfile(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MSPID != "Region310000MSP" || string(cfg.CertPEM) != "CERT" || string(cfg.KeyPEM) != "KEY" || string(cfg.TLSCAPEM) != "CA" ||
		cfg.PeerEndpoint != "127.0.0.1:27051" || cfg.ServerName != "peer0.r310000.trustid.local" || cfg.Channel != "trustid" {
		t.Errorf("%+v", cfg)
	}
	for name, p := range map[string]string{
		"unknown org":  strings.Replace(profile, "organization: Region310000", "organization: Nope", 1),
		"missing file": strings.Replace(profile, "path: cert.pem", "path: nope.pem", 1),
		"plain grpc":   strings.Replace(profile, "grpcs://", "grpc://", 1),
		"not yaml":     "{",
	} {
		os.WriteFile(path, []byte(p), 0o600)
		if _, err := fabric.LoadProfile(path); !errors.Is(err, fabric.ErrConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// fabric.Open refuses what cannot work before dialing anything.
	if _, err := fabric.Open(fabric.Config{MSPID: "Region310000MSP", PeerEndpoint: "127.0.0.1:1", CertPEM: []byte("x")}); !errors.Is(err, fabric.ErrConfig) {
		t.Errorf("bad certificate: %v", err)
	}
	if _, err := fabric.Open(fabric.Config{}); !errors.Is(err, fabric.ErrConfig) {
		t.Errorf("empty config: %v", err)
	}
}

// testIdentity returns a self-signed ECDSA P-256 certificate and its key,
// in PEM, for Config.Check (the certificate also serves as a TLS CA).
func testIdentity(t testing.TB) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "User1@r310000"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk})
}

// TestConfigCheck: Check refuses, without connecting, what Open refuses,
// and a peer endpoint that is not host:port (a URL, no port, a path),
// which the gRPC client would only fail to reach.
func TestConfigCheck(t *testing.T) {
	cert, key := testIdentity(t)
	good := fabric.Config{MSPID: "Region310000MSP", CertPEM: cert, KeyPEM: key, TLSCAPEM: cert, PeerEndpoint: "127.0.0.1:7051"}
	for _, ep := range []string{"127.0.0.1:7051", "peer0.r310000.trustid.local:7051", "[::1]:7051", "localhost:1"} {
		c := good
		c.PeerEndpoint = ep
		if err := c.Check(); err != nil {
			t.Errorf("%q: %v", ep, err)
		}
	}
	for _, ep := range []string{"grpcs://127.0.0.1:7051", "127.0.0.1", "peer0:0", "peer0:70510", "peer0:http", ":7051",
		"peer0:7051/x", "user@peer0:7051", "dns:///peer0:7051", "peer0..example:7051", "-peer0:7051"} {
		c := good
		c.PeerEndpoint = ep
		if err := c.Check(); !errors.Is(err, fabric.ErrConfig) || !strings.Contains(err.Error(), "host:port") {
			t.Errorf("%q: %v", ep, err)
		}
		if _, err := fabric.Open(c); !errors.Is(err, fabric.ErrConfig) {
			t.Errorf("Open %q: %v", ep, err)
		}
	}
	for name, c := range map[string]fabric.Config{
		"no MSP ID":   {CertPEM: cert, KeyPEM: key, TLSCAPEM: cert, PeerEndpoint: good.PeerEndpoint},
		"certificate": {MSPID: good.MSPID, CertPEM: key, KeyPEM: key, TLSCAPEM: cert, PeerEndpoint: good.PeerEndpoint},
		"key":         {MSPID: good.MSPID, CertPEM: cert, KeyPEM: cert, TLSCAPEM: cert, PeerEndpoint: good.PeerEndpoint},
		"TLS CA":      {MSPID: good.MSPID, CertPEM: cert, KeyPEM: key, TLSCAPEM: key, PeerEndpoint: good.PeerEndpoint},
	} {
		if err := c.Check(); !errors.Is(err, fabric.ErrConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
