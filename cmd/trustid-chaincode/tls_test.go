package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestClientCAWithoutTLSRefused: CHAINCODE_TLS_CLIENT_CA asks for the
// peers' client certificates; set without a server certificate and key
// it would leave the server plain gRPC, checking no one, so serve
// refuses to start.
func TestClientCAWithoutTLSRefused(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "peers-ca.pem")
	if err := os.WriteFile(ca, []byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CHAINCODE_ID", "trustid_1:0000")
	t.Setenv("CHAINCODE_SERVER_ADDRESS", "127.0.0.1:0")
	t.Setenv("CHAINCODE_TLS_CERT", "")
	t.Setenv("CHAINCODE_TLS_KEY", "")
	t.Setenv("CHAINCODE_TLS_CLIENT_CA", ca)
	done := make(chan error, 1)
	go func() { done <- serve() }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "CHAINCODE_TLS_CLIENT_CA") {
			t.Errorf("serve: %v, want a refusal naming CHAINCODE_TLS_CLIENT_CA", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("serve started with a client CA and no TLS: plain gRPC, no peer checked")
	}
}
