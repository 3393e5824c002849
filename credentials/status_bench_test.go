package credentials_test

import (
	"context"
	"testing"

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
