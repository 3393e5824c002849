package credentials_test

import (
	"context"
	"testing"
	"time"

	. "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/issuer"
)

// BenchmarkStatusListServe serves a status list whose encoding is cached
// and current (what GET /status/{id} costs between changes).
func BenchmarkStatusListServe(b *testing.B) {
	n := newNode(b, testBase)
	ctx := context.Background()
	iss := mustIssue(b, n, sampleCredential(), issuer.IssueOptions{})
	lid := iss.Status[0].ListID
	if _, _, err := n.issuer.StatusList(ctx, lid); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := n.issuer.StatusList(ctx, lid); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStatusCheckCached checks a revocation entry against a cached
// remote list (what each remote credential's status costs between
// fetches).
func BenchmarkStatusCheckCached(b *testing.B) {
	const u = "https://other.example/status/0000000000000001"
	c := NewStatusChecker(newMemSource(b, u), time.Minute, nil)
	ctx := context.Background()
	entries := entryFor(u)
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Check(ctx, "did:web:other.example", entries); err != nil {
			b.Fatal(err)
		}
	}
}
