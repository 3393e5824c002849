package credentials_test

import (
	"context"
	"errors"
	"testing"

	. "github.com/trustid-cn/trustid/credentials"

	"github.com/trustid-cn/trustid/credentials/issuer"
)

// TestIssueRelatedResourceDigests: VC Data Model 2.0 §5.3 gives
// relatedResource digests a grammar (digestSRI: "as defined by the
// hash-expression ABNF grammar" of Subresource Integrity; digestMultibase:
// as VC Data Integrity §2.6). The node signed entries its own verifier
// then refused (an empty digestSRI, a digestMultibase item that is no
// string, a digest that does not parse): it now refuses them at issue,
// naming the entry, before anything is spent. A digest of an algorithm
// the node does not compute is still issued (SRI ignores unknown ones),
// and a well-formed entry is issued and checks against its resource.
func TestIssueRelatedResourceDigests(t *testing.T) {
	n := newNode(t, testBase)
	ctx := context.Background()
	const id = "https://univ.example/terms"
	terms := []byte("terms of the credential")
	sri, err := SRIDigest("sha384", terms)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := MultibaseDigest(MultihashSHA2_256, terms)
	if err != nil {
		t.Fatal(err)
	}
	with := func(entry map[string]any) map[string]any {
		c := sampleCredential()
		entry["id"] = id
		c["relatedResource"] = []any{entry}
		return c
	}
	for name, entry := range map[string]map[string]any{
		"empty digestSRI":             {"digestSRI": ""},
		"digestSRI not base64":        {"digestSRI": "sha256-!!!"},
		"digestSRI of the wrong size": {"digestSRI": "sha256-AAAA"},
		"digestMultibase item number": {"digestMultibase": []any{7}},
		"digestMultibase empty":       {"digestMultibase": ""},
		"digestMultibase no prefix":   {"digestMultibase": mb[1:]},
		"no digest":                   {"mediaType": "text/plain"},
		"mediaType not a media type":  {"digestSRI": sri, "mediaType": "text plain"},
	} {
		if _, err := n.issuer.Issue(ctx, with(entry), issuer.IssueOptions{}); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if _, err := n.issuer.Issue(ctx, with(map[string]any{"digestSRI": "md5-AAAA"}), issuer.IssueOptions{}); err != nil {
		t.Errorf("a digestSRI of an algorithm the node does not compute: %v, want it issued", err)
	}
	iss := mustIssue(t, n, with(map[string]any{"digestSRI": sri, "digestMultibase": mb, "mediaType": "text/plain"}), issuer.IssueOptions{})
	v, err := n.verifier.VerifyToken(ctx, iss.Token)
	if err != nil {
		t.Fatal(err)
	}
	if rs, err := VerifyRelated(ctx, v.Credential, RelatedOptions{Content: map[string][]byte{id: terms}}); err != nil || len(rs) != 1 || rs[0].Outcome != RelatedVerified {
		t.Fatalf("a well-formed entry: %v %+v", err, rs)
	}
}
