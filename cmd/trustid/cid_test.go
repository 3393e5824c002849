package main

import "testing"

// TestControllerDocumentHostsFlag: --controller-document-hosts is off by
// default, "*" takes every host, a list takes exactly its hosts (case
// and trailing dot aside), and a value that is not a host is refused.
func TestControllerDocumentHostsFlag(t *testing.T) {
	policy := func(args ...string) (func(string) bool, error) {
		cmd := newServeCmd()
		if err := cmd.ParseFlags(args); err != nil {
			t.Fatal(err)
		}
		return controllerHosts(cmd)
	}
	if p, err := policy(); err != nil || p != nil {
		t.Fatalf("default: %v, %v", p != nil, err)
	}
	if p, err := policy("--controller-document-hosts=*"); err != nil || !p("anything.example") {
		t.Fatalf("*: %v", err)
	}
	p, err := policy("--controller-document-hosts=Issuer.Example.,203.0.113.7")
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]bool{"issuer.example": true, "203.0.113.7": true, "evil.example": false, "issuer.example.evil": false} {
		if p(host) != want {
			t.Errorf("%s: %v", host, !want)
		}
	}
	for _, bad := range []string{"https://issuer.example", "issuer.example:8443", "*,issuer.example", "user@issuer.example"} {
		if _, err := policy("--controller-document-hosts=" + bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
