package main

import (
	"context"
	"net/url"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/ledger"
)

// TestPeerCallsSignWithTheReloadedKey: after a rotation and a SIGHUP a
// node signs its node-to-node calls (node assertions, signed answers)
// with its keystore's new active key, as it does everything else
// (docs/operations.md, "Rotating a region's keys", step 1), so retiring
// the old key (step 4) does not cut the region off: both regions rotate
// their SM2 key and retire the old one beside their running nodes, send
// SIGHUP, and B still introspects A's token at A, node to node.
func TestPeerCallsSignWithTheReloadedKey(t *testing.T) {
	t.Setenv("TRUSTID_KEK", testKEK)
	ctx := context.Background()
	a, b, la := twoRegionNodes(t)
	ca := ledger.Client{L: la}
	svcKey := a.addClientIn("svc-a", "310000", auth.ScopeQRRedeem)
	tokenForB := func() string {
		form := url.Values{"grant_type": {auth.GrantClientCredentials}, "scope": {auth.ScopeQRRedeem}, "resource": {b.base},
			"client_assertion_type": {auth.AssertionType}, "client_assertion": {a.assertion("svc-a", svcKey)}}
		code, m, _ := a.do("POST", auth.TokenPath, "", "application/x-www-form-urlencoded", form.Encode())
		if code != 200 {
			t.Fatalf("token for B: %d %v", code, m)
		}
		return m["access_token"].(string)
	}
	introspectedAtB := func(tok string) bool {
		time.Sleep(200 * time.Millisecond) // within the introspection endpoint's rate limit
		form := url.Values{"token": {tok}, "client_assertion_type": {auth.AssertionType}, "client_assertion": {b.assertion("svc-a", svcKey)}}
		c, m, _ := b.do("POST", auth.IntrospectionPath, "", "application/x-www-form-urlencoded", form.Encode())
		return c == 200 && m["active"] == true
	}
	sm2Kid := func(region, state string) string {
		r, err := ca.Region(ctx, region)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range r.Keys {
			if k.Alg == gm.AlgSM2 && k.State == state {
				return k.Kid
			}
		}
		return ""
	}
	forB := tokenForB()
	waitUntil(t, "A's token introspected at B", func() bool { return introspectedAtB(forB) })

	oldA, oldB := sm2Kid("310000", chaincode.KeyActive), sm2Kid("320000", chaincode.KeyActive)
	a.cli("keys", "rotate", "SM2")
	a.cli("keys", "retire", "--", oldA)
	b.cli("keys", "rotate", "SM2")
	b.cli("keys", "retire", "--", oldB)
	// Both nodes run in this process: one signal reloads both.
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "both old keys retired on the ledger", func() bool {
		return sm2Kid("310000", chaincode.KeyRetired) == oldA && sm2Kid("320000", chaincode.KeyRetired) == oldB
	})
	forB = tokenForB() // signed with A's new key, which A verifies at once
	waitUntil(t, "A's token introspected at B after the rotations", func() bool { return introspectedAtB(forB) })
}
