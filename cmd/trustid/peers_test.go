package main

import (
	"errors"
	"testing"

	"github.com/trustid-cn/trustid/federation"
)

// TestParsePeers: --peer takes another region's https base URL in
// production; plain http only to a loopback host, and only in loopback
// development mode (federation.CheckEndpoint, the one endpoint check).
func TestParsePeers(t *testing.T) {
	for _, c := range []struct {
		spec      string
		prod, dev bool
	}{
		{"310000=https://sh.trustid.example/", true, true},
		{"310000=https://10.0.0.7:8443/trustid", true, true},
		{"310000=http://127.0.0.1:8081", false, true},
		{"310000=http://[::1]:8081", false, true},
		{"310000=http://localhost:8081", false, true},
		{"310000=http://sh.trustid.example", false, false},
		{"310000=http://10.0.0.7:8080", false, false},
		{"310000=http://127.0.0.1.nip.io", false, false},
		{"310000=ftp://sh.trustid.example", false, false},
		{"310000=https://user@sh.trustid.example", false, false},
		{"310000=https://sh.trustid.example?x=1", false, false},
		{"310000=sh.trustid.example", false, false},
	} {
		for _, m := range []struct {
			dev bool
			ok  bool
		}{{false, c.prod}, {true, c.dev}} {
			got, err := parsePeers([]string{c.spec}, "440000", m.dev)
			if (err == nil) != m.ok {
				t.Errorf("%s (development %v): %v", c.spec, m.dev, err)
			}
			if err != nil && !errors.Is(err, federation.ErrEndpointRefused) {
				t.Errorf("%s (development %v): %v, want %v", c.spec, m.dev, err, federation.ErrEndpointRefused)
			}
			if err == nil && (len(got["310000"]) == 0 || got["310000"][len(got["310000"])-1] == '/') {
				t.Errorf("%s: %q", c.spec, got)
			}
		}
	}
	for _, bad := range [][]string{{"440000=https://gd.trustid.example"}, {"31000=https://sh.trustid.example"}, {"310000=https://a.example", "310000=https://b.example"}} {
		if _, err := parsePeers(bad, "440000", false); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
