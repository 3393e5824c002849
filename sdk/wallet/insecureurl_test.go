package wallet_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/trustid-cn/trustid/sdk/wallet"
)

// TestNodePlainHTTPOnlyOnLoopback: the wallet's own node, to which it
// sends enrollment requests, login approvals and PIN checks, is https, or
// plain http only to localhost or a loopback address (a node under test),
// as the SDK holds its URLs (sdk.ErrInsecureURL) and the wallet its
// issuers and verifiers. Any other is ErrInsecureURL, naming no password;
// before, NewHolder took every one.
func TestNodePlainHTTPOnlyOnLoopback(t *testing.T) {
	for _, node := range []string{"https://node.example", "https://node.example/sh/", "http://127.0.0.1:8080", "http://localhost:8080", "http://[::1]:8080", "http://127.0.0.2"} {
		if _, err := wallet.NewHolder(node, wallet.NewSoftwareKeys(), "device"); err != nil {
			t.Errorf("NewHolder(%q): %v", node, err)
		}
	}
	for _, node := range []string{
		"http://node.example", "http://0.0.0.0:8080", "http://192.0.2.1:8080", "http://[::]:8080", "ftp://node.example",
		"https://user:secret@node.example", "https://node.example?x=1", "https://node.example#f", "https:node.example", "node.example", "https://", "http://%zz",
	} {
		_, err := wallet.NewHolder(node, wallet.NewSoftwareKeys(), "device")
		if !errors.Is(err, wallet.ErrInsecureURL) {
			t.Errorf("NewHolder(%q) = %v, want ErrInsecureURL", node, err)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("NewHolder(%q): %v names the password", node, err)
		}
	}
}
