package credentials_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	. "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/issuer"
)

// TestIssueOwnStatusOtherSpelling: a status entry the request chose is
// refused whenever its URL names the node's own lists, however the URL
// is spelt: the host's case, a trailing dot, userinfo, an IDNA-mapped
// host, a zero-padded port and a percent-encoded path all fetch the
// node's list, so the entry would be another credential's (revoking
// that one would revoke this one).
func TestIssueOwnStatusOtherSpelling(t *testing.T) {
	n := newNode(t, testBase)
	ctx := context.Background()
	victim, err := n.issuer.Issue(ctx, sampleCredential(), issuer.IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	list := victim.Status[0].ListID
	rest := strings.TrimPrefix(testBase, "https://")
	for _, u := range []string{
		"https://TRUSTID.EXAMPLE:8443/status/" + list,
		"HTTPS://" + rest + "/status/" + list,
		"https://trustid.example.:8443/status/" + list,
		"https://op@" + rest + "/status/" + list,
		"https://ｔｒｕｓｔｉｄ.example:8443/status/" + list,
		"https://trustid.example:08443/status/" + list,
		testBase + "/%73tatus/" + list,
		testBase + "/x/../status/" + list,
	} {
		for _, member := range []string{"statusListCredential", "id"} {
			e := ownEntry()
			e[member] = u
			if member == "id" {
				e[member] = u + "#7"
			}
			c := sampleCredential()
			c["credentialStatus"] = e
			if _, err := n.issuer.Issue(ctx, c, issuer.IssueOptions{}); !errors.Is(err, ErrInvalid) {
				t.Errorf("%s %s: issued (%v), want ErrInvalid", member, e[member], err)
			}
		}
	}
	// Another host, or the node's host on another port, is not the node.
	for _, u := range []string{"https://status.example/lists/7", "https://trustid.example/status/" + list, "https://trustid.example.org:8443/status/" + list} {
		e := ownEntry()
		e["statusListCredential"] = u
		c := sampleCredential()
		c["credentialStatus"] = e
		if _, err := n.issuer.Issue(ctx, c, issuer.IssueOptions{}); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
}
