package api

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/qrcode/redeem"
)

// TestClockSkewBetweenNodes runs two real nodes whose clocks differ: a
// code issued by region A (310000) is redeemed at region B (440000),
// which forwards it to A with a node assertion signed at B's time. A
// checks the assertion against its own clock (redeem.NodeAssertions:
// iat at most 5 s ahead, exp = iat + 60 s plus 5 s of leeway), and the
// code's own expiry is A's (the record A keeps), so B's clock only
// matters through the assertion. Documented tolerance (docs/SECURITY.md):
// B's clock may be up to 5 s ahead of A's and up to 65 s behind (the
// assertion's 60 s lifetime and the 5 s of leeway); beyond
// that A refuses the assertion with 401 qr_peer_unauthorized, cause
// "node assertion expired or not yet issued" in its log, counted as
// assertion_expired; B answers its relying party 503
// temporarily_unavailable (a failure between nodes is not the party's to
// act on), and the code stays unspent: A still redeems it.
func TestClockSkewBetweenNodes(t *testing.T) {
	for _, c := range []struct {
		skew   time.Duration
		status int
		code   string
	}{
		{0, 200, ""},
		{4 * time.Second, 200, ""},
		{-55 * time.Second, 200, ""},
		{-62 * time.Second, 200, ""},
		{8 * time.Second, 503, "temporarily_unavailable"},
		{30 * time.Second, 503, "temporarily_unavailable"},
		{-68 * time.Second, 503, "temporarily_unavailable"},
		{-70 * time.Second, 503, "temporarily_unavailable"},
		{-10 * time.Minute, 503, "temporarily_unavailable"},
	} {
		t.Run(fmt.Sprintf("B%+v", c.skew), func(t *testing.T) {
			p := newPeerQR(t, map[string]string{"age_over_18": "true"})
			b := newQRRegion(t, "440000", 440000, 0x72, peerURLs{"310000": p.a.srv.URL}, p.keysOfA(),
				func(cfg *QRConfig) {
					cfg.Peers.(*redeem.NodeAssertions).Now = func() time.Time { return time.Now().Add(c.skew) }
				})
			r := &qrcode.HolderRequest{Purpose: qrcode.PurposeOnlineCode, Binding: p.binding, Time: time.Now().Unix(), Nonce: make([]byte, 16), Region: "310000", Consent: []string{"age_over_18"}}
			if err := qrcode.SignHolderRequest(nil, p.device, r); err != nil {
				t.Fatal(err)
			}
			resp, m := qrPost(t, p.a.srv.URL+"/v1/qr", "", r)
			if resp.StatusCode != 201 {
				t.Fatalf("issue: %d %v", resp.StatusCode, m)
			}
			code := m["code"].(string)
			resp, m = qrPost(t, b.srv.URL+"/v1/qr/verify", "tok-hotel-440000", map[string]string{"code": code})
			if resp.StatusCode != c.status || (c.code != "" && m["error"] != c.code) {
				t.Fatalf("redeem at B with B's clock %v off: %d %v, want %d %s", c.skew, resp.StatusCode, m, c.status, c.code)
			}
			refusedAtA := strings.Contains(p.a.logs.String(), `"code":"qr_peer_unauthorized","status":401,"cause":"qrcode: peer authentication failed: redeem: node assertion expired or not yet issued"`)
			if refusedAtA != (c.status != 200) {
				t.Errorf("A refused B's assertion for its lifetime: %v; A's log:\n%s", refusedAtA, p.a.logs.String())
			}
			if c.status != 200 {
				// Refused: nothing was spent; A itself still redeems it.
				if resp, m := qrPost(t, p.a.srv.URL+"/v1/qr/verify", "tok-hotel-310000", map[string]string{"code": code}); resp.StatusCode != 200 {
					t.Errorf("after the refusal, redeem at A: %d %v", resp.StatusCode, m)
				}
			}
		})
	}
}
