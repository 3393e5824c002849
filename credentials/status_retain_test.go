package credentials_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"
	"weak"

	. "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/issuer"
	"github.com/trustid-cn/trustid/credentials/status"
)

// oneList serves one bitstring list at every URL, keeping nothing of
// what it is asked; its purposes are revocation unless set.
type oneList struct {
	b        *status.Bitstring
	purposes []string
}

func (o oneList) Bitstring(context.Context, string, string) (*BitstringList, error) {
	if o.purposes == nil {
		return &BitstringList{Bits: o.b, Purposes: []string{PurposeRevocation}}, nil
	}
	return &BitstringList{Bits: o.b, Purposes: o.purposes}, nil
}

func (o oneList) Token(context.Context, string, string) (*TokenStatusList, error) {
	return nil, ErrNotFound
}

// TestStatusCacheKeepsNoDocument: a cached list keeps nothing of the
// credential whose entry named it. The credential's strings are
// substrings of one copy of its document (strictjson.Object): a list
// URL or issuer kept as it is would hold that whole copy, up to
// MaxDocument a list, outside the cache's byte bound.
func TestStatusCacheKeepsNoDocument(t *testing.T) {
	const list = "https://status.example/lists/retain"
	b, err := status.NewBitstring(status.MinEntries)
	if err != nil {
		t.Fatal(err)
	}
	sc := NewStatusChecker(oneList{b: b}, time.Minute, time.Now)
	doc := fmt.Sprintf(`{"@context":[%q],"type":["VerifiableCredential"],"issuer":"did:web:issuer.example:retain","credentialSubject":{"id":"urn:x:1","pad":%q},"credentialStatus":{"type":"BitstringStatusListEntry","statusPurpose":"revocation","statusListIndex":"7","statusListCredential":%q}}`,
		ContextV2, strings.Repeat("p", 200<<10), list)
	held := func() weak.Pointer[byte] {
		c, err := ParseCredential([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Status) != 1 {
			t.Fatalf("status entries %v", c.Status)
		}
		if err := sc.Check(context.Background(), c.Issuer, c.Status); err != nil {
			t.Fatal(err)
		}
		pad := c.Map()["credentialSubject"].(map[string]any)["pad"].(string)
		return weak.Make(unsafe.StringData(pad))
	}()
	for range 3 {
		runtime.GC()
	}
	if held.Value() != nil {
		t.Fatal("the status cache holds the credential's document")
	}
	if sc.CacheBytes() == 0 {
		t.Fatal("the list was not cached")
	}
	runtime.KeepAlive(sc)
}

// TestAnchoredStatusKeepsNoDocument: verifying a credential through
// ledger-anchored status lists leaves nothing of the credential's
// document in the status source's or checker's memory (the source
// remembers each list URL it matched against the ledger).
func TestAnchoredStatusKeepsNoDocument(t *testing.T) {
	ctx := context.Background()
	served := newServedNode(t)
	n, client := served.n, served.client
	ch := openChain(t, t.TempDir(), false)
	served.anchor(t, ch)
	doc := sampleCredential()
	doc["description"] = strings.Repeat("d", 100<<10)
	vc := mustIssue(t, n, doc, issuer.IssueOptions{})
	lists := make([]string, len(vc.Status))
	for i, s := range vc.Status {
		lists[i] = s.ListID
	}
	ch.flush(t, lists...)
	v, src := remoteVerifier(t, n, client, ch.view)
	held := func() weak.Pointer[byte] {
		c, err := v.VerifyCredential(ctx, vc.Token)
		if err != nil {
			t.Fatal(err)
		}
		return weak.Make(unsafe.StringData(c.Map()["description"].(string)))
	}()
	for range 3 {
		runtime.GC()
	}
	if held.Value() != nil {
		t.Fatal("the verifier holds the credential's document")
	}
	runtime.KeepAlive(v)
	runtime.KeepAlive(src)
}
