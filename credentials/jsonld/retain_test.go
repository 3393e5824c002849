package jsonld

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"unsafe"
	"weak"

	"github.com/trustid-cn/trustid/credentials/contexts"
)

// TestContextCachesKeepNoDocument: the processed contexts kept across
// documents keep nothing of the document they came from. Parse's strings
// are substrings of one copy of the document (strictjson.Object): a
// context URL or an inline context's term kept as it is would hold that
// whole copy, up to DefaultMaxBytes, in a cache that lives as long as
// the process.
func TestContextCachesKeepNoDocument(t *testing.T) {
	pad := strings.Repeat("p", 100<<10)
	for _, ctx := range []string{
		fmt.Sprintf("%q", contexts.ExamplesV2),
		fmt.Sprintf(`[%q,%q]`, contexts.CredentialsV2, contexts.DataIntegrityV2),
		fmt.Sprintf(`[%q,{"retainTerm":"https://retain.example/vocab#t"}]`, contexts.CredentialsV2),
	} {
		held := func() weak.Pointer[byte] {
			doc, err := Parse([]byte(fmt.Sprintf(`{"@context":%s,"type":["VerifiableCredential"],"description":%q}`, ctx, pad)), Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Canonicalize(doc); err != nil {
				t.Fatal(err)
			}
			return weak.Make(unsafe.StringData(doc["description"].(string)))
		}()
		for range 3 {
			runtime.GC()
		}
		if held.Value() != nil {
			t.Errorf("@context %s: a context cache holds the document", ctx)
		}
	}
}
