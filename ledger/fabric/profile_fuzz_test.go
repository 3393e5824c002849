package fabric_test

import (
	"bytes"
	"errors"
	"os"
	"testing"

	"github.com/trustid-cn/trustid/ledger/fabric"
)

const fuzzProfile = `
client:
  organization: Region310000
organizations:
  Region310000:
    mspid: Region310000MSP
    peers: [peer0.r310000]
    signedCert: {pem: "CERT"}
    adminPrivateKey: {pem: "KEY"}
peers:
  peer0.r310000:
    url: grpcs://127.0.0.1:27051
    tlsCACerts: {pem: "CA"}
    grpcOptions: {ssl-target-name-override: peer0.r310000.trustid.local}
channels:
  trustid: {peers: {peer0.r310000: {}}}
`

// FuzzLoadProfile: a connection profile of any bytes loads or is refused
// with ErrConfig, and what it loads is checked (Config.Check) with
// ErrConfig as the only refusal.
func FuzzLoadProfile(f *testing.F) {
	f.Add([]byte(fuzzProfile))
	f.Add([]byte(`{"client":{"organization":"o"},"organizations":{"o":{"mspid":"m","peers":["p"]}},"peers":{"p":{"url":"grpcs://h:1"}}}`))
	f.Add([]byte("a: &a [*a, *a]\nclient: *a\n"))
	f.Add([]byte("{"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, raw []byte) {
		if bytes.Contains(raw, []byte("path")) {
			return // files named by the profile: not the fuzzer's to read
		}
		file, err := os.CreateTemp(dir, "p*.yaml")
		if err != nil {
			t.Fatal(err)
		}
		path := file.Name()
		defer os.Remove(path)
		_, err = file.Write(raw)
		if err := errors.Join(err, file.Close()); err != nil {
			t.Fatal(err)
		}
		cfg, err := fabric.LoadProfile(path)
		if err != nil {
			if !errors.Is(err, fabric.ErrConfig) {
				t.Fatalf("error %v is not ErrConfig", err)
			}
			return
		}
		if err := cfg.Check(); err != nil && !errors.Is(err, fabric.ErrConfig) {
			t.Fatalf("Check: error %v is not ErrConfig", err)
		}
	})
}

// FuzzConfigCheck: a profile's PEM certificate, key and TLS CA of any
// bytes are accepted or refused with ErrConfig, never a panic.
func FuzzConfigCheck(f *testing.F) {
	cert, key := testIdentity(f)
	f.Add(cert, key, cert, "127.0.0.1:7051")
	f.Add(key, cert, key, "peer0:7051")
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n"), []byte("-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PRIVATE KEY-----\n"), cert, "[::1]:1")
	f.Fuzz(func(t *testing.T, cert, key, ca []byte, endpoint string) {
		c := fabric.Config{MSPID: "Region310000MSP", CertPEM: cert, KeyPEM: key, TLSCAPEM: ca, PeerEndpoint: endpoint}
		if err := c.Check(); err != nil && !errors.Is(err, fabric.ErrConfig) {
			t.Fatalf("error %v is not ErrConfig", err)
		}
	})
}
