package fabric_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
