package oid4vp

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/credentials"
)

// TestPresentationProblemStatusUnavailable: a credential whose status list
// cannot be fetched is refused for its status, not as if the issuer's key
// were missing (the fetch error also matches credentials.ErrResolve).
func TestPresentationProblemStatusUnavailable(t *testing.T) {
	checker := credentials.NewStatusChecker(&credentials.HTTPStatusSource{}, time.Minute, time.Now)
	err := checker.CheckToken(context.Background(), "https://issuer.example", "https://127.0.0.1:1/status/1", 0)
	if err == nil {
		t.Fatal("a list at a loopback address was fetched")
	}
	got := presentationProblem(err)
	if !strings.Contains(got, "status") || strings.Contains(got, "127.0.0.1") {
		t.Fatalf("presentationProblem(%v) = %q, want the status named and no address", err, got)
	}
}
