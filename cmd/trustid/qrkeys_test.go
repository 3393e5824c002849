package main

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/qrcode"
)

// TestQRKeysFollowReload: the node's QR verifiers see its keystore
// reloaded after `trustid keys rotate` and SIGHUP at once, although they
// loaded their keys a moment before (within the 30 s that throttles
// reloads on unknown kids, qrcode.DefaultKeyRefresh): a binding and a
// printed code issued with the new key are accepted at their first use
// — an offline code at POST /v1/qr/verify, an online code requested at
// POST /v1/qr and redeemed, the printed code at POST /v1/qr/static, a
// login approval — and after `trustid keys retire` and SIGHUP what the
// old key signed is refused at once (docs/operations.md, "Rotating a
// region's keys", step 4: a retired key verifies nothing).
func TestQRKeysFollowReload(t *testing.T) {
	f := newEnrollFixture(t)
	web := f.addLoginRP("web", "web.example")
	// The gate's access token is taken again after each reload: one of
	// the old key stops verifying once it is retired.
	gateKey := f.addClientArgs("gate", auth.ScopeQRRedeem)
	gate := f.tokenFor("gate", gateKey)
	enroll := func(p *person) (binding []byte, static string) {
		t.Helper()
		code, _, m := f.enroll(f.enrollBody(p, "", "", func(m map[string]any) { m["static_code"] = true }))
		var r copiesResult
		raw, _ := json.Marshal(m)
		json.Unmarshal(raw, &r)
		if code != 201 || len(r.Copies) != 2 || r.Copies[0].QRBinding == nil || r.Copies[1].StaticCode == nil {
			t.Fatalf("enroll %s: %d %v", p.name, code, m)
		}
		return r.Copies[0].QRBinding, r.Copies[1].StaticCode.Code
	}
	counter := uint64(0)
	uses := func(p *person, binding []byte, static string) map[string]func() (int, any) {
		return map[string]func() (int, any){
			"offline code": func() (int, any) {
				counter++
				text, err := qrcode.NewOffline(nil, p.device, binding, nil, qrcode.Presentation{Time: time.Now(), Counter: counter})
				if err != nil {
					t.Fatal(err)
				}
				c, m := f.redeem(gate, text)
				return c, m["error"]
			},
			"online code": func() (int, any) {
				c, m := f.onlineCode(p.device, binding)
				if c != 201 {
					return c, m["error"]
				}
				c, m = f.redeem(gate, m["code"].(string))
				return c, m["error"]
			},
			"printed code": func() (int, any) {
				c, m, _ := f.do("POST", "/v1/qr/static", "", "application/x-www-form-urlencoded", "code="+url.QueryEscape(static))
				return c, m["error"]
			},
			"login approval": func() (int, any) {
				c, m := approve(t, web.start(t).sessionURL, holderApp{device: p.device, binding: binding, node: f.base}, "")
				return c, m["error"]
			},
		}
	}
	type answer struct {
		status int
		code   any
	}
	ok := map[string]answer{"offline code": {200, nil}, "online code": {200, nil}, "printed code": {200, nil}, "login approval": {204, nil}}
	unknownKey := map[string]answer{"offline code": {403, "qr_unknown_key"}, "online code": {403, "qr_unknown_key"},
		"printed code": {403, "qr_unknown_key"}, "login approval": {403, "approval_refused"}}
	expect := func(when string, u map[string]func() (int, any), want map[string]answer) {
		t.Helper()
		for name, use := range u {
			if c, e := use(); c != want[name].status || e != want[name].code {
				t.Errorf("%s, %s: %d %v, want %v", when, name, c, e, want[name])
			}
		}
	}
	// kids are the SM2 keys of the node's JWKS.
	kids := func() []string {
		_, m, _ := f.do("GET", "/.well-known/jwks.json", "", "", "")
		keys, _ := m["keys"].([]any)
		var out []string
		for _, k := range keys {
			if k := k.(map[string]any); k["alg"] == gm.AlgSM2 {
				out = append(out, k["kid"].(string))
			}
		}
		return out
	}
	reload := func(what string, done func() bool) {
		t.Helper()
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, what, done)
		gate = f.tokenFor("gate", gateKey)
	}

	alice := newPerson(t, "11010519900307123", "张三")
	aliceBinding, aliceStatic := enroll(alice)
	aliceUses := uses(alice, aliceBinding, aliceStatic)
	// Every verifier loads the node's keys now.
	expect("before the rotation", aliceUses, ok)

	before := kids()
	if len(before) != 1 {
		t.Fatalf("SM2 keys before the rotation: %v", before)
	}
	oldKid := before[0]
	out := f.cli("keys", "rotate", "SM2")
	m := regexp.MustCompile(`new active SM2 key (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("keys rotate: %s", out)
	}
	newKid := m[1]
	reload("the node's JWKS listing the new key", func() bool { return slices.Contains(kids(), newKid) })
	bob := newPerson(t, "11010519900307131", "李四")
	bobBinding, bobStatic := enroll(bob)
	bobUses := uses(bob, bobBinding, bobStatic)
	expect("the new key, at once after the reload", bobUses, ok)
	expect("the old key, retiring", aliceUses, ok)

	f.cli("keys", "retire", "--", oldKid)
	reload("the node's JWKS without the old key", func() bool { return !slices.Contains(kids(), oldKid) })
	expect("the old key, at once after its retirement", aliceUses, unknownKey)
	expect("the new key after the retirement", bobUses, ok)
}

// TestRegionInstancesQRKeysAfterCopy: step 3 of a region's rotation
// (docs/operations.md). Instance 2 verifies what instance 1 signs with
// its new key from the region's record, reading its own keystore copy
// again at each such code; once the rotated keystore is copied to it
// and it gets SIGHUP, it holds the key (the record no longer answers
// for it) and verifies the code at once, from its keystore.
func TestRegionInstancesQRKeysAfterCopy(t *testing.T) {
	t.Setenv("TRUSTID_PAIRWISE_KEY", strings.Repeat("5a", 32))
	t.Setenv("TRUSTID_PAIRWISE_KEY_VERSION", "1")
	r := startRegionInstances(t)
	i1, i2 := r.i1, r.i2
	f1, f2 := &enrollFixture{authNode: i1}, &enrollFixture{authNode: i2}
	f1.enrollTok = i1.tokenFor("app-backend", i1.addClientArgs("app-backend", auth.ScopeEnroll+","+auth.ScopeStatusWrite))
	hotel := i2.tokenFor("hotel", i1.addClientArgs("hotel", auth.ScopeQRRedeem, "--sector", "hotel.example"))

	_, newKid := r.rotate()
	p := newPerson(t, "11010519900307123", "张三")
	code, rp, m := f1.enroll(f1.enrollBody(p, "", "", nil))
	if code != 201 || len(rp.QRBinding) == 0 {
		t.Fatalf("enroll at instance 1: %d %v", code, m)
	}
	counter := uint64(0)
	offline := func() (int, any) {
		counter++
		c, err := qrcode.NewOffline(rand.Reader, p.device, rp.QRBinding, nil, qrcode.Presentation{Time: time.Now(), Counter: counter})
		if err != nil {
			t.Fatal(err)
		}
		code, m := f2.redeem(hotel, c)
		return code, m["error"]
	}
	waitUntil(t, "instance 1's holder verifying at instance 2 from the record", func() bool { c, _ := offline(); return c == 200 })

	r.copyKeystore()
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "instance 2's JWKS listing the new key", func() bool {
		_, m, _ := i2.do("GET", "/.well-known/jwks.json", "", "", "")
		return strings.Contains(fmt.Sprint(m["keys"]), newKid)
	})
	if c, e := offline(); c != 200 {
		t.Errorf("offline code at instance 2 at once after the copy: %d %v", c, e)
	}
	if c, m := f2.onlineCode(p.device, rp.QRBinding); c != 201 {
		t.Errorf("online code request at instance 2 at once after the copy: %d %v", c, m)
	}
}
