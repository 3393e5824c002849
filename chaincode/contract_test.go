package chaincode

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/gm"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var t0 = time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)

// ledger runs transactions over one MemState as a ledger would: each call
// is atomic (its writes are dropped on error) and gets its own tx ID and a
// later timestamp.
type ledger struct {
	st  *MemState
	seq int
}

func newLedger() *ledger { return &ledger{st: NewMemState("", t0)} }

func (l *ledger) call(msp, fn string, args ...string) ([]byte, error) {
	l.seq++
	l.st.MSPID, l.st.ID, l.st.Now = msp, fmt.Sprintf("tx%03d", l.seq), t0.Add(time.Duration(l.seq)*time.Second)
	l.st.Events = nil
	bargs := make([][]byte, len(args))
	for i, a := range args {
		bargs[i] = []byte(a)
	}
	out, err := Invoke(l.st, fn, bargs)
	if err != nil {
		l.st.Discard()
	} else {
		l.st.Commit()
	}
	return out, err
}

func (l *ledger) must(t *testing.T, msp, fn string, args ...string) []byte {
	t.Helper()
	out, err := l.call(msp, fn, args...)
	if err != nil {
		t.Fatalf("%s by %s: %v", fn, msp, err)
	}
	return out
}

func sm2JWK(t testing.TB, seed byte, kid string) gm.JWK {
	t.Helper()
	d := bytes.Repeat([]byte{seed}, 32)
	k, err := gm.NewPrivateKey(d)
	if err != nil {
		t.Fatal(err)
	}
	j, err := gm.NewJWK(k.Public(), kid)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func edJWK(t testing.TB, seed byte, kid string) gm.JWK {
	t.Helper()
	pub := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, 32)).Public()
	j, err := gm.NewJWK(pub, kid)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func js(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const (
	msp31 = "Region310000MSP"
	msp32 = "Region320000MSP"
	msp44 = "Region440000MSP"
)

func regionInput(t testing.TB, code string, seed byte) string {
	return js(t, RegionInput{Code: code, DID: "did:web:" + code + ".trustid.example", Name: "node " + code,
		Endpoints: []Endpoint{{Type: "api", URL: "https://" + code + ".trustid.example"}},
		Keys:      []gm.JWK{sm2JWK(t, seed, code+"-k1")}})
}

// consortium sets up 310000 (genesis) and 320000 (admitted by 310000).
func consortium(t *testing.T) *ledger {
	l := newLedger()
	l.must(t, msp31, "RequestRegion", regionInput(t, "310000", 1))
	l.must(t, msp32, "RequestRegion", regionInput(t, "320000", 2))
	l.must(t, msp31, "Vote", ActionAdmit, "320000")
	return l
}

func region(t *testing.T, l *ledger, code string) Region {
	t.Helper()
	var r Region
	if err := json.Unmarshal(l.must(t, "", "GetRegion", code), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestConsortiumPolicy(t *testing.T) {
	l := newLedger()
	// Genesis: the first region is active at once.
	l.must(t, msp31, "RequestRegion", regionInput(t, "310000", 1))
	if r := region(t, l, "310000"); r.Status != RegionActive {
		t.Fatalf("genesis region is %s", r.Status)
	}
	// A region may only request its own admission.
	if _, err := l.call(msp31, "RequestRegion", regionInput(t, "320000", 2)); !errors.Is(err, ErrForbidden) {
		t.Errorf("request for another region: %v", err)
	}
	if _, err := l.call("Org1MSP", "RequestRegion", regionInput(t, "320000", 2)); !errors.Is(err, ErrUnknownCaller) {
		t.Errorf("non-region MSP: %v", err)
	}
	l.must(t, msp32, "RequestRegion", regionInput(t, "320000", 2))
	if r := region(t, l, "320000"); r.Status != RegionPending {
		t.Fatalf("second region is %s", r.Status)
	}
	if _, err := l.call(msp32, "RequestRegion", regionInput(t, "320000", 2)); !errors.Is(err, ErrExists) {
		t.Errorf("second request: %v", err)
	}
	// A pending region writes nothing but its request, and cannot vote.
	if _, err := l.call(msp32, "Vote", ActionAdmit, "310000"); !errors.Is(err, ErrForbidden) {
		t.Errorf("pending region voting: %v", err)
	}
	if _, err := l.call(msp32, "AnchorAudit", js(t, AuditInput{Node: "n1", Seq: 1, Head: strings.Repeat("ab", 32)})); !errors.Is(err, ErrForbidden) {
		t.Errorf("pending region anchoring: %v", err)
	}
	// Nor its record: the regions vote on it as requested.
	if _, err := l.call(msp32, "AddRegionKey", js(t, sm2JWK(t, 9, "320000-k2"))); !errors.Is(err, ErrForbidden) {
		t.Errorf("pending region added a key: %v", err)
	}
	if _, err := l.call(msp32, "SetRegionKeyState", "320000-k1", KeyRetiring); !errors.Is(err, ErrForbidden) {
		t.Errorf("pending region moved a key on: %v", err)
	}
	if _, err := l.call(msp32, "UpdateRegion", js(t, RegionInput{Code: "320000", DID: "did:web:other.example",
		Endpoints: []Endpoint{{Type: "api", URL: "https://other.example"}}})); !errors.Is(err, ErrForbidden) {
		t.Errorf("pending region changed its DID and endpoint: %v", err)
	}
	// 1 of 1 active regions is a majority.
	l.must(t, msp31, "Vote", ActionAdmit, "320000")
	if r := region(t, l, "320000"); r.Status != RegionActive || len(r.StatusHistory) != 2 {
		t.Fatalf("after the vote: %+v", r)
	}
	if _, err := l.call("", "GetProposal", ActionAdmit, "320000"); !errors.Is(err, ErrNotFound) {
		t.Errorf("proposal kept after it applied: %v", err)
	}
	// A third region needs 2 of 2.
	l.must(t, msp44, "RequestRegion", regionInput(t, "440000", 4))
	l.must(t, msp31, "Vote", ActionAdmit, "440000")
	if r := region(t, l, "440000"); r.Status != RegionPending {
		t.Fatalf("admitted with 1 of 2 votes: %s", r.Status)
	}
	if _, err := l.call(msp31, "Vote", ActionAdmit, "440000"); !errors.Is(err, ErrAlreadyVoted) {
		t.Errorf("double vote: %v", err)
	}
	var ev RegistryEvent
	l.must(t, msp32, "Vote", ActionAdmit, "440000")
	json.Unmarshal(l.st.Events[0].Payload, &ev)
	if r := region(t, l, "440000"); r.Status != RegionActive || ev.Action != "admitted" {
		t.Fatalf("after 2 of 2: %s %+v", r.Status, ev)
	}
	// Suspending 440000 needs 2 of the 2 others; it may not vote itself.
	if _, err := l.call(msp44, "Vote", ActionSuspend, "440000"); !errors.Is(err, ErrForbidden) {
		t.Errorf("self vote: %v", err)
	}
	l.must(t, msp31, "Vote", ActionSuspend, "440000")
	if r := region(t, l, "440000"); r.Status != RegionActive {
		t.Fatal("suspended by one vote of two")
	}
	l.must(t, msp32, "Vote", ActionSuspend, "440000")
	if r := region(t, l, "440000"); r.Status != RegionSuspended {
		t.Fatalf("not suspended: %s", r.Status)
	}
	// A suspended region writes nothing.
	if _, err := l.call(msp44, "PutStatusHeads", js(t, []HeadInput{{List: "0000000caaaaaaaa", Version: 1, Digest: strings.Repeat("00", 32)}})); !errors.Is(err, ErrForbidden) {
		t.Errorf("suspended region wrote: %v", err)
	}
	if _, err := l.call(msp31, "Vote", ActionAdmit, "440000"); !errors.Is(err, ErrRegionState) {
		t.Errorf("admit of a suspended region: %v", err)
	}
	l.must(t, msp31, "Vote", ActionReinstate, "440000")
	l.must(t, msp32, "Vote", ActionReinstate, "440000")
	if r := region(t, l, "440000"); r.Status != RegionActive || len(r.StatusHistory) != 4 {
		t.Fatalf("not reinstated: %+v", r.StatusHistory)
	}
	if _, err := l.call(msp31, "Vote", "dissolve", "440000"); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown action: %v", err)
	}
}

func TestNoQuorum(t *testing.T) {
	l := consortium(t)
	// Suspend 320000 (1 of 1 other), then 310000 alone cannot be suspended
	// by anyone: the only other region is suspended and cannot vote.
	l.must(t, msp31, "Vote", ActionSuspend, "320000")
	if _, err := l.call(msp32, "Vote", ActionSuspend, "310000"); !errors.Is(err, ErrForbidden) {
		t.Errorf("suspended region voting: %v", err)
	}
}

func TestRegionKeysHistory(t *testing.T) {
	l := consortium(t)
	l.must(t, msp31, "AddRegionKey", js(t, edJWK(t, 9, "310000-k2")))
	if _, err := l.call(msp31, "AddRegionKey", js(t, sm2JWK(t, 1, "310000-k2"))); !errors.Is(err, ErrExists) {
		t.Errorf("duplicate kid: %v", err)
	}
	l.must(t, msp31, "SetRegionKeyState", "310000-k1", KeyRetiring)
	l.must(t, msp31, "SetRegionKeyState", "310000-k1", KeyRetired)
	if _, err := l.call(msp31, "SetRegionKeyState", "310000-k1", KeyActive); !errors.Is(err, ErrKeyTransition) {
		t.Errorf("retired → active: %v", err)
	}
	l.must(t, msp31, "SetRegionKeyState", "310000-k1", KeyRevoked)
	if _, err := l.call(msp32, "SetRegionKeyState", "310000-k2", KeyRevoked); !errors.Is(err, ErrNotFound) {
		t.Errorf("320000 changing 310000's key: %v", err)
	}
	r := region(t, l, "310000")
	if len(r.Keys) != 2 || r.Keys[0].State != KeyRevoked || len(r.Keys[0].History) != 4 || r.Keys[1].Alg != gm.AlgEdDSA {
		t.Fatalf("keys: %+v", r.Keys)
	}
	bad := sm2JWK(t, 3, "x")
	bad.X = bad.Y
	if _, err := l.call(msp31, "AddRegionKey", js(t, bad)); !errors.Is(err, ErrInvalid) {
		t.Errorf("off-curve key: %v", err)
	}
	if _, err := l.call(msp31, "AddRegionKey", `{"kty":"EC","crv":"SM2","x":"`+bad.Y+`","y":"`+bad.Y+`","d":"AAAA","kid":"p"}`); !errors.Is(err, ErrInvalid) {
		t.Errorf("private member accepted: %v", err)
	}
	upd := RegionInput{Code: "320000", DID: "did:web:x", Endpoints: []Endpoint{}}
	if _, err := l.call(msp31, "UpdateRegion", js(t, upd)); !errors.Is(err, ErrForbidden) {
		t.Errorf("update of another region: %v", err)
	}
	upd.Code = "310000"
	upd.Endpoints = []Endpoint{{Type: "api", URL: "ftp://x"}}
	if _, err := l.call(msp31, "UpdateRegion", js(t, upd)); !errors.Is(err, ErrInvalid) {
		t.Errorf("ftp endpoint: %v", err)
	}
}

// readLog is a MemState that records what a transaction reads: the keys
// it gets and the key ranges it scans.
type readLog struct {
	*MemState
	gets  []string
	scans []string
}

func (r *readLog) Get(key string) ([]byte, error) {
	r.gets = append(r.gets, key)
	return r.MemState.Get(key)
}

func (r *readLog) Scan(objectType string, attrs []string, fn func(string, []byte) error) error {
	r.scans = append(r.scans, objectType)
	return r.MemState.Scan(objectType, attrs, fn)
}

func (r *readLog) ScanPage(objectType string, attrs []string, bookmark string, limit int, fn func(string, []byte) error) (string, error) {
	r.scans = append(r.scans, objectType)
	return r.MemState.ScanPage(objectType, attrs, bookmark, limit, fn)
}

// invokeLogged runs fn as msp over l's state, as l.call does, and returns
// the key ranges it scanned.
func (l *ledger) invokeLogged(t *testing.T, msp, fn string, args ...string) []string {
	t.Helper()
	rl := &readLog{MemState: l.st}
	l.st.MSPID = msp
	bargs := make([][]byte, len(args))
	for i, a := range args {
		bargs[i] = []byte(a)
	}
	if _, err := Invoke(rl, fn, bargs); err != nil {
		t.Fatalf("%s by %s: %v", fn, msp, err)
	}
	l.st.Commit()
	return rl.scans
}

// TestRegistryWritesReadNoRanges: PutIssuer, RequestRegion and
// UpdateRegion read the claims of the hosts and identifiers they name
// (point reads), no range of keys: on Fabric a range read fails at
// commit (PHANTOM_READ_CONFLICT) when any record in it changed meanwhile,
// so reading every region's and issuer's record let a region writing its
// own in every block stall every other region's accreditations and
// admission requests (docs/SECURITY.md, gap 24).
func TestRegistryWritesReadNoRanges(t *testing.T) {
	l := consortium(t)
	iss := func(id string) string {
		return js(t, Issuer{ID: id, Types: []string{"ResidenceCredential", "https://310000.trustid.example/vct/X"},
			Keys: []RegistryKey{{JWK: sm2JWK(t, 5, "iss-1")}}, Status: EntryActive})
	}
	l.must(t, msp31, "PutIssuer", iss("did:web:university.example:a"))
	for name, w := range map[string][]string{
		"PutIssuer (new)":   {msp31, "PutIssuer", iss("did:web:310000.trustid.example:issuers:a")},
		"PutIssuer (again)": {msp31, "PutIssuer", iss("did:web:310000.trustid.example:issuers:a")},
		"RequestRegion":     {msp44, "RequestRegion", regionInput(t, "440000", 4)},
		"UpdateRegion": {msp32, "UpdateRegion", js(t, RegionInput{Code: "320000", DID: "did:web:320000.trustid.example",
			Endpoints: []Endpoint{{Type: "api", URL: "https://320000.trustid.example"}, {Type: "web", URL: "https://www.320000.example"}}})},
	} {
		l.seq++
		l.st.ID = fmt.Sprintf("tx%03d", l.seq)
		if scans := l.invokeLogged(t, w[0], w[1], w[2:]...); len(scans) != 0 {
			t.Errorf("%s scanned %q", name, scans)
		}
	}
}

// TestVoteReadsNothingItsSubjectWrites: a vote reads the standings, its
// proposal and the voter's own record, nothing the region it is about
// writes (its record, a scan of the regions' records). On Fabric a
// transaction fails at commit when what it read changed meanwhile, so a
// region writing its own record in every block (UpdateRegion has no
// limit) made every vote to suspend it fail, for as long as it kept on.
func TestVoteReadsNothingItsSubjectWrites(t *testing.T) {
	const msp33 = "Region330000MSP"
	l := consortium(t)
	l.must(t, msp33, "RequestRegion", regionInput(t, "330000", 3))
	l.must(t, msp31, "Vote", ActionAdmit, "330000")
	l.must(t, msp32, "Vote", ActionAdmit, "330000")
	subject, _ := CompositeKey(objRegion, "330000")
	for _, voter := range []string{msp31, msp32} {
		l.must(t, msp33, "UpdateRegion", js(t, RegionInput{Code: "330000", DID: "did:web:330000.trustid.example", Name: "busy " + voter,
			Endpoints: []Endpoint{{Type: "api", URL: "https://330000.trustid.example"}}}))
		rl := &readLog{MemState: l.st}
		l.st.MSPID = voter
		if _, err := Invoke(rl, "Vote", [][]byte{[]byte(ActionSuspend), []byte("330000")}); err != nil {
			t.Fatal(err)
		}
		l.st.Commit()
		if slices.Contains(rl.gets, subject) || slices.Contains(rl.scans, objRegion) {
			t.Errorf("the vote of %s read its subject's record: gets %q, scans %q", voter, rl.gets, rl.scans)
		}
	}
	if r := region(t, l, "330000"); r.Status != RegionSuspended || len(r.StatusHistory) != 3 || r.Name != "busy "+msp32 {
		t.Errorf("after 2 of 2 votes: %s %+v %q", r.Status, r.StatusHistory, r.Name)
	}
}

// TestClaimsOfAnOlderChain: a chain an older contract wrote holds no
// claims. Until a write that reads them succeeds, each reads the region
// and issuer records (refusing what the claims would); the first stores
// the claims of every record, the same as the contract keeps, and the
// writes after it read no range.
func TestClaimsOfAnOlderChain(t *testing.T) {
	l := consortium(t)
	iss := func(id string) string {
		return js(t, Issuer{ID: id, Types: []string{"ResidenceCredential"}, Keys: []RegistryKey{{JWK: sm2JWK(t, 5, "iss-1")}}, Status: EntryActive})
	}
	l.must(t, msp31, "PutIssuer", iss("did:web:university.example:a"))
	l.must(t, msp44, "RequestRegion", regionInput(t, "440000", 4))
	start, end, _ := PrefixRange(objClaim, nil)
	claims := func() map[string]string {
		m := map[string]string{}
		for k, v := range l.st.KV {
			if k >= start && k < end {
				m[k] = string(v)
			}
		}
		return m
	}
	want := claims()
	mark, _ := CompositeKey(objClaim, claimsIndexed)
	if _, ok := want[mark]; !ok || len(want) < 10 {
		t.Fatalf("claims: %q", want)
	}
	for k := range want {
		delete(l.st.KV, k)
	}
	if _, err := l.call(msp32, "PutIssuer", iss("did:web:University.example:b")); !errors.Is(err, ErrForbidden) {
		t.Errorf("an issuer on another region's issuer's host: %v", err)
	}
	if _, err := l.call(msp32, "UpdateRegion", js(t, RegionInput{Code: "320000", DID: "did:web:320000.trustid.example",
		Endpoints: []Endpoint{{Type: "api", URL: "https://440000.trustid.example/320000"}}})); !errors.Is(err, ErrInvalid) {
		t.Errorf("an endpoint on another region's host: %v", err)
	}
	if got := claims(); len(got) != 0 {
		t.Fatalf("refused writes stored claims: %q", got)
	}
	l.must(t, msp32, "UpdateRegion", js(t, RegionInput{Code: "320000", DID: "did:web:320000.trustid.example", Name: "node 320000",
		Endpoints: []Endpoint{{Type: "api", URL: "https://320000.trustid.example"}}}))
	got := claims()
	if _, ok := got[mark]; !ok {
		t.Error("no mark of the stored claims")
	}
	delete(got, mark)
	delete(want, mark)
	if !maps.Equal(got, want) {
		t.Errorf("claims stored on the older chain:\n%q\nwant\n%q", got, want)
	}
	if scans := l.invokeLogged(t, msp32, "PutIssuer", iss("did:web:320000.trustid.example:issuers:b")); len(scans) != 0 {
		t.Errorf("PutIssuer after the claims were stored scanned %q", scans)
	}
}

// TestSharedClaimsOfAnOlderChain: where an even older contract let two
// regions name one host and one endpoint URL, the claims indexClaims
// stores give each to one region and keep the other's (Claim.Also): when
// the holder's record drops it, it passes to the other region, whose
// record or issuer still names it, not to whoever writes next.
func TestSharedClaimsOfAnOlderChain(t *testing.T) {
	l := consortium(t)
	l.must(t, msp44, "RequestRegion", regionInput(t, "440000", 4))
	l.must(t, msp31, "Vote", ActionAdmit, "440000")
	l.must(t, msp32, "Vote", ActionAdmit, "440000")
	iss := func(msp, id string) error {
		_, err := l.call(msp, "PutIssuer", js(t, Issuer{ID: id, Types: []string{"ResidenceCredential"},
			Keys: []RegistryKey{{JWK: sm2JWK(t, 5, "iss-1")}}, Status: EntryActive}))
		return err
	}
	upd := func(msp, code string, eps ...Endpoint) error {
		_, err := l.call(msp, "UpdateRegion", js(t, RegionInput{Code: code, DID: "did:web:" + code + ".trustid.example",
			Endpoints: append([]Endpoint{{Type: "api", URL: "https://" + code + ".trustid.example"}}, eps...)}))
		return err
	}
	web := Endpoint{Type: "web", URL: "https://shared.example"}
	if err := upd(msp31, "310000", web); err != nil {
		t.Fatal(err)
	}
	if err := iss(msp32, "did:web:320000.trustid.example:b"); err != nil {
		t.Fatal(err)
	}
	// An older chain, as an even older contract wrote it: 320000's record
	// names the web endpoint 310000's names, and one of 320000's issuers
	// is on its host.
	var r Region
	rk, _ := CompositeKey(objRegion, "320000")
	if err := json.Unmarshal(l.st.KV[rk], &r); err != nil {
		t.Fatal(err)
	}
	r.Endpoints = append(r.Endpoints, Endpoint{Type: "web", URL: "https://shared.example/"})
	l.st.KV[rk] = []byte(js(t, r))
	ik, _ := CompositeKey(objIssuer, "did:web:320000.trustid.example:b")
	shared, _ := CompositeKey(objIssuer, "did:web:shared.example:b")
	l.st.KV[shared] = []byte(strings.ReplaceAll(string(l.st.KV[ik]), "did:web:320000.trustid.example:b", "did:web:shared.example:b"))
	delete(l.st.KV, ik)
	start, end, _ := PrefixRange(objClaim, nil)
	for k := range l.st.KV {
		if k >= start && k < end {
			delete(l.st.KV, k)
		}
	}
	// 310000 drops the endpoint: the host and the URL are 320000's.
	if err := upd(msp31, "310000"); err != nil {
		t.Fatal(err)
	}
	if err := iss(msp31, "did:web:shared.example:x"); !errors.Is(err, ErrForbidden) {
		t.Errorf("an issuer on the host another region's record names: %v", err)
	}
	if err := upd(msp44, "440000", web); !errors.Is(err, ErrInvalid) {
		t.Errorf("an endpoint another region's record names: %v", err)
	}
	// 320000 drops it too: the host stays 320000's, its issuer's.
	if err := upd(msp32, "320000"); err != nil {
		t.Fatal(err)
	}
	if err := upd(msp44, "440000", web); !errors.Is(err, ErrInvalid) {
		t.Errorf("an endpoint on the host of another region's issuer: %v", err)
	}
	if err := iss(msp32, "did:web:shared.example:c"); err != nil {
		t.Errorf("an issuer on the host of its region's issuer: %v", err)
	}
}

// TestClaimsFollowTheRecords: a host or an endpoint URL a region's
// record no longer names is free for another region, unless an issuer
// of the region is on the host (issuers are never removed: their hosts
// stay their region's).
func TestClaimsFollowTheRecords(t *testing.T) {
	l := consortium(t)
	iss := func(msp, id string) error {
		_, err := l.call(msp, "PutIssuer", js(t, Issuer{ID: id, Types: []string{"ResidenceCredential"},
			Keys: []RegistryKey{{JWK: sm2JWK(t, 5, "iss-1")}}, Status: EntryActive}))
		return err
	}
	upd := func(msp, code, host string, extra ...Endpoint) error {
		_, err := l.call(msp, "UpdateRegion", js(t, RegionInput{Code: code, DID: "did:web:" + host,
			Endpoints: append([]Endpoint{{Type: "api", URL: "https://" + host}}, extra...)}))
		return err
	}
	if err := upd(msp32, "320000", "320000.trustid.example", Endpoint{Type: "web", URL: "https://www.320000.example/"}); err != nil {
		t.Fatal(err)
	}
	if err := iss(msp31, "did:web:www.320000.example:x"); !errors.Is(err, ErrForbidden) {
		t.Errorf("an issuer on another region's web host: %v", err)
	}
	if err := upd(msp32, "320000", "320000.trustid.example"); err != nil {
		t.Fatal(err)
	}
	if err := iss(msp31, "did:web:www.320000.example:x"); err != nil {
		t.Errorf("an issuer on the host another region dropped: %v", err)
	}
	// 310000's issuer keeps 310000.trustid.example when 310000 moves.
	if err := iss(msp31, "https://310000.trustid.example/issuers/a"); err != nil {
		t.Fatal(err)
	}
	if err := upd(msp31, "310000", "node.310000.example"); err != nil {
		t.Fatal(err)
	}
	if err := iss(msp32, "https://310000.trustid.example/issuers/b"); !errors.Is(err, ErrForbidden) {
		t.Errorf("an issuer on the host of another region's issuer: %v", err)
	}
	if err := upd(msp32, "320000", "320000.trustid.example", Endpoint{Type: "web", URL: "https://310000.trustid.example"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("an endpoint on the host of another region's issuer: %v", err)
	}
	if err := upd(msp32, "320000", "320000.trustid.example", Endpoint{Type: "web", URL: "https://node.310000.example/"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("an endpoint on the host another region moved to: %v", err)
	}
	// 310000 may come back, and name its issuer's ID nowhere.
	if err := upd(msp31, "310000", "310000.trustid.example"); err != nil {
		t.Errorf("310000 back on its host: %v", err)
	}
	if err := upd(msp31, "310000", "310000.trustid.example", Endpoint{Type: "web", URL: "https://310000.trustid.example/issuers/a/"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("an endpoint that is its own issuer's ID: %v", err)
	}
}

// TestRegionQuota: a region adds at most MaxRegionRecords issuers,
// relying parties, terminals and status heads together, counted under a
// key of its own: past it an addition is refused with ErrQuota (also
// ErrForbidden, and so over the wire) and writes nothing, while updates
// of its records go on; another region counts its own.
func TestRegionQuota(t *testing.T) {
	l := consortium(t)
	term := func(id string, seed byte, status string) string {
		return js(t, Terminal{ID: id, Kind: "counter", Key: sm2JWK(t, seed, id), Status: status})
	}
	head := func(list string, version uint64) HeadInput {
		return HeadInput{List: list, Version: version, Digest: ListDigest([]byte(list))}
	}
	counted := func() int {
		k, _ := CompositeKey(objQuota, "310000")
		var q quota
		if err := json.Unmarshal(l.st.KV[k], &q); err != nil {
			t.Fatal(err)
		}
		return q.Records
	}
	l.must(t, msp31, "AddTerminal", term("T-1", 7, EntryActive))
	l.must(t, msp31, "PutStatusHeads", js(t, []HeadInput{head("00000001aaaaaaaa", 1)}))
	if n := counted(); n != 2 {
		t.Fatalf("counted %d records, want 2", n)
	}
	k, _ := CompositeKey(objQuota, "310000")
	l.st.KV[k] = []byte(fmt.Sprintf(`{"records":%d}`, MaxRegionRecords-1))
	if _, err := l.call(msp31, "PutStatusHeads", js(t, []HeadInput{head("00000002aaaaaaaa", 1), head("00000003aaaaaaaa", 1)})); !errors.Is(err, ErrQuota) {
		t.Errorf("two heads past the quota: %v", err)
	}
	if _, err := l.call("", "GetStatusHead", "310000", "00000002aaaaaaaa"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a head of a refused transaction: %v", err)
	}
	l.must(t, msp31, "AddTerminal", term("T-2", 8, EntryActive))
	for name, w := range map[string][]string{
		"terminal": {"AddTerminal", term("T-3", 9, EntryActive)},
		"issuer": {"PutIssuer", js(t, Issuer{ID: "did:web:310000.trustid.example:issuers:q", Types: []string{"ResidenceCredential"},
			Keys: []RegistryKey{{JWK: sm2JWK(t, 5, "iss-1")}}, Status: EntryActive})},
		"relying party": {"AddRelyingParty", js(t, RelyingParty{ClientID: "rp-31", JWKS: gm.JWKS{Keys: []gm.JWK{sm2JWK(t, 6, "rp-1")}},
			Scopes: []string{"openid"}, Status: EntryActive})},
		"status head": {"PutStatusHeads", js(t, []HeadInput{head("00000004aaaaaaaa", 1)})},
	} {
		_, err := l.call(msp31, w[0], w[1])
		if !errors.Is(err, ErrQuota) || !errors.Is(err, ErrForbidden) || !errors.Is(FromWire("peer: "+WireMessage(err)), ErrQuota) {
			t.Errorf("a %s past the quota: %v", name, err)
		}
	}
	// Updates are no additions.
	l.must(t, msp31, "PutTerminal", term("T-1", 7, EntrySuspended))
	l.must(t, msp31, "PutStatusHeads", js(t, []HeadInput{head("00000001aaaaaaaa", 2)}))
	if n := counted(); n != MaxRegionRecords {
		t.Errorf("counted %d records, want %d", n, MaxRegionRecords)
	}
	l.must(t, msp32, "AddTerminal", term("T-32", 10, EntryActive))
}

// TestRegionByteQuota: the quota counts the bytes of the records a region
// adds and what its updates grow them by (an update that shrinks one
// gives its bytes back); past MaxRegionBytes an addition or an update
// that grows a record is refused with ErrQuota and writes nothing, while
// a withdrawal (an entry suspended or revoked, keys retired or revoked)
// and a status head's new version go on. Records an older contract wrote,
// which the quota never counted, are updated as any other.
func TestRegionByteQuota(t *testing.T) {
	l := consortium(t)
	qk, _ := CompositeKey(objQuota, "310000")
	counted := func() quota {
		t.Helper()
		var q quota
		if err := json.Unmarshal(l.st.KV[qk], &q); err != nil {
			t.Fatal(err)
		}
		return q
	}
	size := func(obj string, attrs ...string) int64 {
		k, _ := CompositeKey(obj, attrs...)
		return int64(len(l.st.KV[k]))
	}
	head := func(list string, version uint64) string {
		return js(t, []HeadInput{{List: list, Version: version, Digest: ListDigest(fmt.Appendf(nil, "%s %d", list, version))}})
	}
	term := Terminal{ID: "T-1", Kind: "counter", Key: sm2JWK(t, 7, "t-1"), Status: EntryActive}
	rp := RelyingParty{ClientID: "rp-31", JWKS: gm.JWKS{Keys: []gm.JWK{sm2JWK(t, 6, "rp-1"), sm2JWK(t, 8, "rp-2")}},
		Scopes: []string{"openid"}, Status: EntryActive}
	iss := Issuer{ID: "did:web:310000.trustid.example:issuers:q", Types: []string{"ResidenceCredential"},
		Keys: []RegistryKey{{JWK: sm2JWK(t, 5, "iss-1")}, {JWK: sm2JWK(t, 9, "iss-2")}}, Status: EntryActive}
	l.must(t, msp31, "AddTerminal", js(t, term))
	l.must(t, msp31, "AddRelyingParty", js(t, rp))
	l.must(t, msp31, "PutIssuer", js(t, iss))
	l.must(t, msp31, "PutStatusHeads", head("00000001aaaaaaaa", 1))
	want := size(objTerminal, "T-1") + size(objRP, "rp-31") + size(objIssuer, iss.ID) + size(objHead, "310000", "00000001aaaaaaaa")
	if q := counted(); q.Records != 4 || q.Bytes != want {
		t.Fatalf("counted %+v, want 4 records of %d bytes", q, want)
	}
	// An update counts what it grows, and gives back what it shrinks.
	for _, uris := range [][]string{{"https://rp.example/cb", "https://rp.example/cb2"}, {"https://rp.example/cb"}} {
		was := size(objRP, "rp-31")
		rp.RedirectURIs = uris
		l.must(t, msp31, "PutRelyingParty", js(t, rp))
		if want += size(objRP, "rp-31") - was; counted().Bytes != want {
			t.Fatalf("counted %d bytes after the update to %d redirect URIs, want %d", counted().Bytes, len(uris), want)
		}
	}
	// A head's new version is not counted.
	l.must(t, msp31, "PutStatusHeads", head("00000001aaaaaaaa", 1234567))
	if counted().Bytes != want {
		t.Errorf("a head's new version counted: %d bytes, want %d", counted().Bytes, want)
	}

	// At the quota, nothing is added and nothing grows.
	full := quota{Records: 4, Bytes: MaxRegionBytes - 10}
	l.st.KV[qk] = []byte(js(t, full))
	renamed := term
	renamed.Name = "Xuhui counter 1"
	moreTypes := iss
	moreTypes.Types = append(slices.Clone(iss.Types), "StudentCredential")
	moreURIs := rp
	moreURIs.RedirectURIs = append(slices.Clone(rp.RedirectURIs), "https://rp.example/cb3")
	suspendedMoreURIs := moreURIs
	suspendedMoreURIs.Status = EntrySuspended
	issuerNewKey := iss
	issuerNewKey.Status, issuerNewKey.Keys = EntrySuspended, append(slices.Clone(iss.Keys), RegistryKey{JWK: sm2JWK(t, 16, "iss-3")})
	suspendedNewKey := rp
	suspendedNewKey.Status, suspendedNewKey.JWKS.Keys = EntrySuspended, append(slices.Clone(rp.JWKS.Keys), sm2JWK(t, 15, "rp-4"))
	for name, w := range map[string][]string{
		"terminal":                            {"AddTerminal", js(t, Terminal{ID: "T-2", Kind: "counter", Key: sm2JWK(t, 10, "t-2"), Status: EntryActive})},
		"status head":                         {"PutStatusHeads", head("00000002aaaaaaaa", 1)},
		"issuer":                              {"PutIssuer", js(t, Issuer{ID: "did:web:310000.trustid.example:issuers:r", Types: []string{"ResidenceCredential"}, Keys: []RegistryKey{{JWK: sm2JWK(t, 11, "r-1")}}, Status: EntryActive})},
		"relying party":                       {"AddRelyingParty", js(t, RelyingParty{ClientID: "rp-32", JWKS: gm.JWKS{Keys: []gm.JWK{sm2JWK(t, 12, "rp-3")}}, Scopes: []string{"openid"}, Status: EntryActive})},
		"terminal renamed":                    {"PutTerminal", js(t, renamed)},
		"issuer accredited for one more type": {"PutIssuer", js(t, moreTypes)},
		"relying party with another redirect URI":           {"PutRelyingParty", js(t, moreURIs)},
		"relying party suspended with another redirect URI": {"PutRelyingParty", js(t, suspendedMoreURIs)},
		"relying party suspended with a new key":            {"PutRelyingParty", js(t, suspendedNewKey)},
		"issuer suspended with a new key":                   {"PutIssuer", js(t, issuerNewKey)},
	} {
		_, err := l.call(msp31, w[0], w[1])
		if !errors.Is(err, ErrQuota) || !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), "bytes") || !errors.Is(FromWire("peer: "+WireMessage(err)), ErrQuota) {
			t.Errorf("a %s past the quota of bytes: %v", name, err)
		}
	}
	if q := counted(); q != full {
		t.Errorf("refused writes counted: %+v, want %+v", q, full)
	}
	if _, err := l.call("", "GetTerminal", "T-2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a terminal of a refused transaction: %v", err)
	}
	// Withdrawals go on, counted, and so do the heads' new versions.
	want = full.Bytes
	goesOn := func(fn, arg, obj, id string) {
		t.Helper()
		was := size(obj, id)
		l.must(t, msp31, fn, arg)
		want += size(obj, id) - was
	}
	term.Status = EntrySuspended
	goesOn("PutTerminal", js(t, term), objTerminal, "T-1")
	term.Status = TerminalRevoked
	goesOn("PutTerminal", js(t, term), objTerminal, "T-1")
	iss.Keys[0].State = KeyRevoked
	goesOn("PutIssuer", js(t, iss), objIssuer, iss.ID)
	iss.Keys[0].State, iss.Keys[1].State, iss.Status = "", KeyRetiring, EntrySuspended
	goesOn("PutIssuer", js(t, iss), objIssuer, iss.ID)
	rp.JWKS.Keys, rp.Status = rp.JWKS.Keys[1:], EntrySuspended
	goesOn("PutRelyingParty", js(t, rp), objRP, "rp-31")
	l.must(t, msp31, "PutStatusHeads", head("00000001aaaaaaaa", 1234568))
	if q := counted(); q.Bytes != want || want <= MaxRegionBytes {
		t.Errorf("counted %+v after the withdrawals, want %d bytes (past the quota)", q, want)
	}
	// A key retired as its issuer is reactivated is no withdrawal.
	reactivated := iss
	reactivated.Keys = slices.Clone(iss.Keys)
	reactivated.Status, reactivated.Keys[1].State = EntryActive, KeyRetired
	if _, err := l.call(msp31, "PutIssuer", js(t, reactivated)); !errors.Is(err, ErrQuota) {
		t.Errorf("an issuer reactivated as a key retires, past the quota: %v", err)
	}
	// An update that shrinks a record goes on, and gives its bytes back.
	rp.RedirectURIs = nil
	goesOn("PutRelyingParty", js(t, rp), objRP, "rp-31")
	if q := counted(); q.Bytes != want {
		t.Errorf("counted %+v after a shrinking update, want %d bytes", q, want)
	}

	// A record an older contract wrote, not counted, and a quota that
	// counted no bytes (session 30's): the record's updates count what
	// they grow, its additions their size.
	old := Terminal{ID: "T-old", Region: "310000", Kind: "counter", Key: sm2JWK(t, 13, "t-old"), Status: EntryActive, Created: t0, Updated: t0}
	ok, _ := CompositeKey(objTerminal, "T-old")
	l.st.KV[ok] = []byte(js(t, old))
	l.st.KV[qk] = []byte(`{"records":7}`)
	was := size(objTerminal, "T-old")
	old.Name = "Xuhui counter 2"
	l.must(t, msp31, "PutTerminal", js(t, old))
	l.must(t, msp31, "AddTerminal", js(t, Terminal{ID: "T-3", Kind: "counter", Key: sm2JWK(t, 14, "t-3"), Status: EntryActive}))
	if q, want := counted(), (quota{Records: 8, Bytes: size(objTerminal, "T-old") - was + size(objTerminal, "T-3")}); q != want {
		t.Errorf("counted %+v on a chain an older contract wrote, want %+v", q, want)
	}
	// Shrunk, it gives back no more bytes than were counted.
	l.st.KV[qk] = []byte(`{"records":8,"bytes":10}`)
	old.Name = ""
	l.must(t, msp31, "PutTerminal", js(t, old))
	if q := counted(); q != (quota{Records: 8}) {
		t.Errorf("counted %+v after an older record shrank, want 8 records of 0 bytes", q)
	}
}

// TestStandingsOfAnOlderChain: on a chain whose region records hold
// their status (written before the consortium record), the records'
// statuses are the standings; the first write makes the consortium record
// of them, and the consortium goes on from there.
func TestStandingsOfAnOlderChain(t *testing.T) {
	l := consortium(t)
	l.must(t, msp44, "RequestRegion", regionInput(t, "440000", 4))
	// The chain as an older contract left it.
	members, _ := CompositeKey(objMembers)
	var m membership
	if err := json.Unmarshal(l.st.KV[members], &m); err != nil {
		t.Fatal(err)
	}
	delete(l.st.KV, members)
	for code, s := range m.Regions {
		k, _ := CompositeKey(objRegion, code)
		var r Region
		json.Unmarshal(l.st.KV[k], &r)
		r.Status, r.StatusHistory = s.Status, s.History
		l.st.KV[k] = []byte(js(t, r))
	}
	if r := region(t, l, "440000"); r.Status != RegionPending || len(r.StatusHistory) != 1 {
		t.Fatalf("pending region on an older chain: %+v", r)
	}
	if _, ok := l.st.KV[members]; ok {
		t.Fatal("a read wrote the consortium record")
	}
	l.must(t, msp32, "AnchorAudit", js(t, AuditInput{Node: "n", Seq: 1, Head: strings.Repeat("ab", 32)}))
	if err := json.Unmarshal(l.st.KV[members], &m); err != nil || len(m.Regions) != 3 || m.Regions["310000"].Status != RegionActive {
		t.Fatalf("consortium record after the first write: %+v, %v", m, err)
	}
	l.must(t, msp31, "Vote", ActionAdmit, "440000")
	l.must(t, msp32, "Vote", ActionAdmit, "440000")
	if r := region(t, l, "440000"); r.Status != RegionActive || len(r.StatusHistory) != 2 {
		t.Errorf("admitted on an older chain: %+v", r)
	}
	l.must(t, msp44, "AddRegionKey", js(t, sm2JWK(t, 9, "440000-k2")))
	k, _ := CompositeKey(objRegion, "440000")
	if strings.Contains(string(l.st.KV[k]), `"status"`) {
		t.Errorf("a region record written again keeps a status: %s", l.st.KV[k])
	}
}

// TestSuspendedRegionWithdrawsKeys: a suspended region may retire or
// revoke its keys, so that a key stolen from it verifies nothing once the
// consortium reinstates it; it may not add a key or move one to retiring,
// and a pending region changes none of its requested keys.
func TestSuspendedRegionWithdrawsKeys(t *testing.T) {
	l := consortium(t)
	l.must(t, msp32, "AddRegionKey", js(t, sm2JWK(t, 7, "320000-k2")))
	l.must(t, msp32, "AddRegionKey", js(t, sm2JWK(t, 8, "320000-k3")))
	l.must(t, msp31, "Vote", ActionSuspend, "320000")
	l.must(t, msp32, "SetRegionKeyState", "320000-k1", KeyRevoked)
	l.must(t, msp32, "SetRegionKeyState", "320000-k2", KeyRetired)
	for _, w := range [][]string{
		{"SetRegionKeyState", "320000-k3", KeyRetiring},
		{"AddRegionKey", js(t, sm2JWK(t, 9, "320000-k4"))},
	} {
		if _, err := l.call(msp32, w[0], w[1:]...); !errors.Is(err, ErrForbidden) {
			t.Errorf("suspended region: %s %v: %v", w[0], w[1:], err)
		}
	}
	if _, err := l.call(msp32, "SetRegionKeyState", "320000-k1", KeyActive); !errors.Is(err, ErrForbidden) {
		t.Errorf("suspended region brought a revoked key back: %v", err)
	}
	l.must(t, msp31, "Vote", ActionReinstate, "320000")
	r := region(t, l, "320000")
	if r.Status != RegionActive || len(r.Keys) != 3 || r.Keys[0].State != KeyRevoked || r.Keys[1].State != KeyRetired || r.Keys[2].State != KeyActive {
		t.Fatalf("reinstated region: %s %+v", r.Status, r.Keys)
	}
	l.must(t, msp44, "RequestRegion", regionInput(t, "440000", 4))
	if _, err := l.call(msp44, "SetRegionKeyState", "440000-k1", KeyRevoked); !errors.Is(err, ErrForbidden) {
		t.Errorf("pending region revoked a requested key: %v", err)
	}
}

// TestListPages: the List…Page functions answer every record once, in
// pages of at most PageSize records, so an answer stays bounded however
// many records a region writes (a List answer of the largest relying
// parties, 114 KB each, passes Fabric's 100 MiB at some 920 of them); a bookmark
// that is not one of the list's is invalid.
func TestListPages(t *testing.T) {
	l := consortium(t)
	var keys []gm.JWK
	for i := range 2 {
		keys = append(keys, sm2JWK(t, byte(10+i), fmt.Sprintf("%0256d", i)))
	}
	uris := make([]string, 4)
	for i := range uris {
		uris[i] = fmt.Sprintf("https://rp.example/%03d/%s", i, strings.Repeat("a", 489))
	}
	const n = PageSize + 10
	for i := range n {
		rp := RelyingParty{ClientID: fmt.Sprintf("rp-%061d", i), JWKS: gm.JWKS{Keys: keys}, Scopes: []string{"openid"},
			GrantTypes: []string{GrantAuthorizationCode}, RedirectURIs: uris, PostLogoutRedirectURIs: uris, Status: EntryActive}
		l.must(t, msp31, "AddRelyingParty", js(t, rp))
	}
	all := l.must(t, "", "ListRelyingParties")
	var want []RelyingParty
	if err := json.Unmarshal(all, &want); err != nil || len(want) != n {
		t.Fatalf("ListRelyingParties: %d, %v", len(want), err)
	}
	var got []RelyingParty
	bookmark, pages := "", 0
	for {
		out := l.must(t, "", "ListRelyingPartiesPage", bookmark)
		var p Page[RelyingParty]
		if err := json.Unmarshal(out, &p); err != nil {
			t.Fatal(err)
		}
		pages++
		if len(p.Items) > PageSize || len(out) > 20<<20 {
			t.Fatalf("page %d: %d records, %d bytes", pages, len(p.Items), len(out))
		}
		got = append(got, p.Items...)
		if p.Next == "" {
			break
		}
		bookmark = p.Next
	}
	if pages != 2 || js(t, got) != js(t, want) {
		t.Errorf("%d pages of %d records; want 2 pages of the %d records ListRelyingParties answers (%d bytes)", pages, len(got), n, len(all))
	}
	// Status heads page per region.
	l.must(t, msp32, "PutStatusHeads", js(t, []HeadInput{{List: "00000001aaaaaaaa", Version: 1, Digest: ListDigest([]byte("v1"))}}))
	var heads Page[StatusHead]
	if err := json.Unmarshal(l.must(t, "", "ListStatusHeadsPage", "320000", ""), &heads); err != nil || len(heads.Items) != 1 || heads.Next != "" {
		t.Errorf("320000's heads: %+v, %v", heads, err)
	}
	// Audit anchors page per region too.
	for i := range PageSize + 1 {
		l.must(t, msp31, "AnchorAudit", js(t, AuditInput{Node: fmt.Sprintf("node-%03d", i), Seq: 1, Head: strings.Repeat("11", 32)}))
	}
	l.must(t, msp32, "AnchorAudit", js(t, AuditInput{Node: "node-b", Seq: 1, Head: strings.Repeat("22", 32)}))
	var anchors, rest Page[AuditAnchor]
	json.Unmarshal(l.must(t, "", "ListAuditAnchorsPage", "310000", ""), &anchors)
	json.Unmarshal(l.must(t, "", "ListAuditAnchorsPage", "310000", anchors.Next), &rest)
	if len(anchors.Items) != PageSize || anchors.Next == "" || len(rest.Items) != 1 || rest.Next != "" || rest.Items[0].Node != fmt.Sprintf("node-%03d", PageSize) {
		t.Errorf("310000's anchors: %d then %d, next %q then %q", len(anchors.Items), len(rest.Items), anchors.Next, rest.Next)
	}
	if _, err := l.call("", "ListAuditAnchorsPage", "320000", anchors.Next); !errors.Is(err, ErrInvalid) {
		t.Errorf("a bookmark of 310000's anchors read 320000's: %v", err)
	}
	for _, b := range []string{"x", bookmark + "\xff", "\x00terminal\x00a\x00", "\x00rq\x00"} {
		if _, err := l.call("", "ListRelyingPartiesPage", b); !errors.Is(err, ErrInvalid) {
			t.Errorf("bookmark %q: %v", b, err)
		}
	}
	var empty Page[Terminal]
	if err := json.Unmarshal(l.must(t, "", "ListTerminalsPage", ""), &empty); err != nil || empty.Items == nil || len(empty.Items) != 0 || empty.Next != "" {
		t.Errorf("no terminals: %+v, %v", empty, err)
	}
}

func TestRegistryOwnership(t *testing.T) {
	l := consortium(t)
	iss := Issuer{ID: "did:web:310000.trustid.example:issuer", Name: "Shanghai issuer", Types: []string{"ResidenceCredential", "AgeOver18"},
		Keys: []RegistryKey{{JWK: sm2JWK(t, 5, "iss-1")}}, Status: EntryActive}
	l.must(t, msp31, "PutIssuer", js(t, iss))
	if _, err := l.call(msp32, "PutIssuer", js(t, iss)); !errors.Is(err, ErrForbidden) {
		t.Errorf("320000 overwrote 310000's issuer: %v", err)
	}
	iss.Region = "310000"
	if _, err := l.call(msp32, "PutIssuer", js(t, iss)); !errors.Is(err, ErrForbidden) {
		t.Errorf("320000 wrote an issuer of 310000: %v", err)
	}
	iss.Types = nil
	if _, err := l.call(msp31, "PutIssuer", js(t, iss)); !errors.Is(err, ErrInvalid) {
		t.Errorf("issuer without types: %v", err)
	}

	rp := RelyingParty{ClientID: "gov-portal-32", Name: "Jiangsu portal", JWKS: gm.JWKS{Keys: []gm.JWK{sm2JWK(t, 6, "rp-1")}},
		Scopes: []string{"openid", "qr:redeem"}, Claims: []string{"age_over_18"}, Status: EntryActive}
	l.must(t, msp32, "PutRelyingParty", js(t, rp))
	if _, err := l.call(msp31, "PutRelyingParty", js(t, rp)); !errors.Is(err, ErrForbidden) {
		t.Errorf("310000 overwrote 320000's relying party: %v", err)
	}
	rp.Scopes = []string{"openid", "openid"}
	if _, err := l.call(msp32, "PutRelyingParty", js(t, rp)); !errors.Is(err, ErrInvalid) {
		t.Errorf("repeated scope: %v", err)
	}

	term := Terminal{ID: "T-310000-0001", Kind: "counter", Key: sm2JWK(t, 7, "term-1"), Status: EntryActive}
	l.must(t, msp31, "PutTerminal", js(t, term))
	term.Status = EntrySuspended
	l.must(t, msp31, "PutTerminal", js(t, term))
	if _, err := l.call(msp32, "PutTerminal", js(t, term)); !errors.Is(err, ErrForbidden) {
		t.Errorf("320000 suspended 310000's terminal: %v", err)
	}
	var got Terminal
	json.Unmarshal(l.must(t, "", "GetTerminal", term.ID), &got)
	if got.Status != EntrySuspended || got.Region != "310000" || !got.Created.Before(got.Updated) {
		t.Errorf("terminal: %+v", got)
	}
	// A region places terminals in its own territory only: 310000's
	// terminal located in 320104 would be accredited for 320000.
	placed := Terminal{ID: "T-310000-0002", Kind: "counter", Location: "320104", Key: sm2JWK(t, 8, "term-2"), Status: EntryActive}
	if _, err := l.call(msp31, "AddTerminal", js(t, placed)); !errors.Is(err, ErrForbidden) {
		t.Errorf("310000 added a terminal located in 320104: %v", err)
	}
	placed.Location = "310104"
	l.must(t, msp31, "AddTerminal", js(t, placed))
	placed.Location = "320104"
	if _, err := l.call(msp31, "PutTerminal", js(t, placed)); !errors.Is(err, ErrForbidden) {
		t.Errorf("310000 moved its terminal to 320104: %v", err)
	}
	var all []Issuer
	json.Unmarshal(l.must(t, "", "ListIssuers"), &all)
	if len(all) != 1 || all[0].Region != "310000" {
		t.Errorf("issuers: %+v", all)
	}
}

func TestStrictArguments(t *testing.T) {
	l := consortium(t)
	for name, arg := range map[string]string{
		"duplicate key":  `{"node":"n","node":"m","seq":1,"head":"` + strings.Repeat("00", 32) + `"}`,
		"unknown field":  `{"node":"n","seq":1,"head":"` + strings.Repeat("00", 32) + `","extra":1}`,
		"trailing data":  `{"node":"n","seq":1,"head":"` + strings.Repeat("00", 32) + `"} {}`,
		"uppercase hex":  `{"node":"n","seq":1,"head":"` + strings.Repeat("AB", 32) + `"}`,
		"short head":     `{"node":"n","seq":1,"head":"00"}`,
		"not json":       `node=n`,
		"negative seq":   `{"node":"n","seq":-1,"head":"` + strings.Repeat("00", 32) + `"}`,
		"nested dup key": `{"node":"n","seq":1,"head":"` + strings.Repeat("00", 32) + `","x":{"a":1,"a":2}}`,
	} {
		if _, err := l.call(msp31, "AnchorAudit", arg); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := l.call(msp31, "Nope"); !errors.Is(err, ErrUnknownFunc) {
		t.Errorf("unknown function: %v", err)
	}
	if _, err := l.call(msp31, "GetRegion"); !errors.Is(err, ErrArgumentsCount) {
		t.Errorf("missing argument: %v", err)
	}
}

func changes(n int, list string, status uint8) []StatusChange {
	out := make([]StatusChange, n)
	for i := range out {
		out[i] = StatusChange{List: list, Index: uint64(i * 7), Status: status}
	}
	return out
}

func TestAnchorBatchIdempotent(t *testing.T) {
	l := consortium(t)
	in, err := NewBatchInput("node-a-1", append(changes(3, "00000001aaaaaaaa", 1), changes(2, "00000002aaaaaaaa", 2)...))
	if err != nil {
		t.Fatal(err)
	}
	var res BatchResult
	json.Unmarshal(l.must(t, msp31, "AnchorBatch", js(t, in)), &res)
	if res.Replayed || res.Batch.Count != 5 || res.Batch.Region != "310000" || len(l.st.Events) != 1 || l.st.Events[0].Name != EventStatusBatch {
		t.Fatalf("first anchor: %+v %v", res, l.st.Events)
	}
	before := maps.Clone(l.st.KV)
	json.Unmarshal(l.must(t, msp31, "AnchorBatch", js(t, in)), &res)
	if !res.Replayed || len(l.st.Events) != 0 || !maps.EqualFunc(before, l.st.KV, bytes.Equal) {
		t.Fatalf("replay wrote or emitted: %+v %v", res, l.st.Events)
	}
	// Same ID, different content: refused.
	other, _ := NewBatchInput("node-a-1", changes(5, "00000001aaaaaaaa", 1))
	if _, err := l.call(msp31, "AnchorBatch", js(t, other)); !errors.Is(err, ErrBatchConflict) {
		t.Errorf("different batch under the same ID: %v", err)
	}
	// Same ID in another region is another batch.
	l.must(t, msp32, "AnchorBatch", js(t, other))
	// A root that does not match the changes.
	bad := in
	bad.ID, bad.Root = "node-a-2", strings.Repeat("00", 32)
	if _, err := l.call(msp31, "AnchorBatch", js(t, bad)); !errors.Is(err, ErrInvalid) || !errors.Is(err, ErrProof) {
		t.Errorf("wrong root: %v", err)
	}
	bad = in
	bad.ID, bad.Count = "node-a-3", 4
	if _, err := l.call(msp31, "AnchorBatch", js(t, bad)); !errors.Is(err, ErrInvalid) {
		t.Errorf("wrong count: %v", err)
	}
	var got Batch
	json.Unmarshal(l.must(t, "", "GetBatch", "310000", "node-a-1"), &got)
	cs, err := DecodeBatch(got)
	if err != nil || len(cs) != 5 || cs[4].Status != 2 {
		t.Fatalf("decode anchored batch: %v %+v", err, cs)
	}
	// A list ID as nodes make them (status.ValidListID) only, as in
	// PutStatusHeads: a node reads no other.
	for i, id := range []string{"L1", "00000001/../../x", "00000002?admin=1", "00000003#fragmen", "00000005AAAAAAAA", "00000006aaaaaaaaa"} {
		hostile, _ := NewBatchInput(fmt.Sprintf("node-a-%d", 10+i), append(changes(1, "00000001aaaaaaaa", 1), changes(1, id, 1)...))
		if _, err := l.call(msp31, "AnchorBatch", js(t, hostile)); !errors.Is(err, ErrInvalid) || !errors.Is(err, ErrBadList) {
			t.Errorf("a batch of list %q: %v", id, err)
		}
		if _, err := l.call("", "GetBatch", "310000", hostile.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("a batch of list %q anchored: %v", id, err)
		}
	}
	// A batch an older contract took under other list IDs still reads.
	older, _ := NewBatchInput("node-a-old", changes(2, "https://310000.example/status/1", 1))
	k, _ := CompositeKey(objBatch, "310000", older.ID)
	l.st.KV[k] = []byte(js(t, Batch{ID: older.ID, Region: "310000", Root: older.Root, Count: older.Count, Lists: older.Lists, Changes: older.Changes, Time: t0, Tx: "tx0"}))
	json.Unmarshal(l.must(t, "", "GetBatch", "310000", older.ID), &got)
	if cs, err := DecodeBatch(got); err != nil || len(cs) != 2 || cs[0].List != "https://310000.example/status/1" {
		t.Errorf("a batch an older contract took: %v %+v", err, cs)
	}
}

func TestStatusHeads(t *testing.T) {
	l := consortium(t)
	d1, d2 := ListDigest([]byte("list v1")), ListDigest([]byte("list v2"))
	l.must(t, msp31, "PutStatusHeads", js(t, []HeadInput{{List: "00000001aaaaaaaa", Version: 1, Digest: d1}, {List: "00000002aaaaaaaa", Version: 1, Digest: d1}}))
	if len(l.st.Events) != 1 || l.st.Events[0].Name != EventStatusHeads {
		t.Fatal("no heads event")
	}
	// Replaying is a no-op without an event.
	l.must(t, msp31, "PutStatusHeads", js(t, []HeadInput{{List: "00000001aaaaaaaa", Version: 1, Digest: d1}}))
	if len(l.st.Events) != 0 {
		t.Error("replayed heads emitted an event")
	}
	if _, err := l.call(msp31, "PutStatusHeads", js(t, []HeadInput{{List: "00000001aaaaaaaa", Version: 1, Digest: d2}})); !errors.Is(err, ErrHeadConflict) {
		t.Errorf("same version, other digest: %v", err)
	}
	l.must(t, msp31, "PutStatusHeads", js(t, []HeadInput{{List: "00000001aaaaaaaa", Version: 2, Digest: d2}}))
	if _, err := l.call(msp31, "PutStatusHeads", js(t, []HeadInput{{List: "00000001aaaaaaaa", Version: 1, Digest: d1}})); !errors.Is(err, ErrStale) {
		t.Errorf("older version: %v", err)
	}
	// 320000 writes under its own region only: no effect on 310000's L1.
	l.must(t, msp32, "PutStatusHeads", js(t, []HeadInput{{List: "00000001aaaaaaaa", Version: 9, Digest: d1}}))
	var h StatusHead
	json.Unmarshal(l.must(t, "", "GetStatusHead", "310000", "00000001aaaaaaaa"), &h)
	if h.Version != 2 || h.Digest != d2 {
		t.Errorf("310000/L1: %+v", h)
	}
	var heads []StatusHead
	json.Unmarshal(l.must(t, "", "ListStatusHeads", "310000"), &heads)
	if len(heads) != 2 {
		t.Errorf("heads of 310000: %+v", heads)
	}
	// A list ID as nodes make them (status.ValidListID) only: a node
	// fetches no other (federation.TestQRStatusListIDsOfTheRegistry).
	for _, id := range []string{"bad list", "L1", "00000001/../../x", "00000002?admin=1", "00000003#fragmen", "00000004%2f..%2f", "00000005AAAAAAAA", "00000006aaaaaaaaa"} {
		if _, err := l.call(msp31, "PutStatusHeads", js(t, []HeadInput{{List: id, Version: 1, Digest: d1}})); !errors.Is(err, ErrInvalid) {
			t.Errorf("list ID %q: %v", id, err)
		}
	}
	// A head an older contract took under another ID still loads.
	k, _ := CompositeKey(objHead, "310000", "L9")
	l.st.KV[k] = []byte(js(t, StatusHead{Region: "310000", List: "L9", Version: 1, Digest: d1}))
	json.Unmarshal(l.must(t, "", "GetStatusHead", "310000", "L9"), &h)
	var page Page[StatusHead]
	json.Unmarshal(l.must(t, "", "ListStatusHeadsPage", "310000", ""), &page)
	if h.List != "L9" || len(page.Items) != 3 {
		t.Errorf("an older head: %+v; %d heads", h, len(page.Items))
	}
}

func TestAuditAnchors(t *testing.T) {
	l := consortium(t)
	h1, h2 := strings.Repeat("11", 32), strings.Repeat("22", 32)
	l.must(t, msp31, "AnchorAudit", js(t, AuditInput{Node: "node-a", Seq: 10, Head: h1}))
	l.must(t, msp31, "AnchorAudit", js(t, AuditInput{Node: "node-a", Seq: 10, Head: h1}))
	if _, err := l.call(msp31, "AnchorAudit", js(t, AuditInput{Node: "node-a", Seq: 10, Head: h2})); !errors.Is(err, ErrHeadConflict) {
		t.Errorf("fork: %v", err)
	}
	if _, err := l.call(msp31, "AnchorAudit", js(t, AuditInput{Node: "node-a", Seq: 9, Head: h2})); !errors.Is(err, ErrStale) {
		t.Errorf("rollback: %v", err)
	}
	l.must(t, msp31, "AnchorAudit", js(t, AuditInput{Node: "node-a", Seq: 11, Head: h2}))
	var a AuditAnchor
	json.Unmarshal(l.must(t, "", "GetAuditAnchor", "310000", "node-a"), &a)
	if a.Seq != 11 || a.Head != h2 {
		t.Errorf("anchor: %+v", a)
	}
}

// TestAuditAnchorNodeNames: a node ID the audit log would refuse (empty,
// with a space or a NUL, over 128 bytes) is ErrInvalid and anchors
// nothing.
func TestAuditAnchorNodeNames(t *testing.T) {
	l := consortium(t)
	head := strings.Repeat("11", 32)
	for _, node := range []string{"", "node a", "node\x00a", strings.Repeat("n", 129), "-node"} {
		if _, err := l.call(msp31, "AnchorAudit", js(t, AuditInput{Node: node, Seq: 1, Head: head})); !errors.Is(err, ErrInvalid) {
			t.Errorf("node %q: %v, want ErrInvalid", node, err)
		}
	}
	var anchors []AuditAnchor
	json.Unmarshal(l.must(t, "", "ListAuditAnchors", "310000"), &anchors)
	if len(anchors) != 0 {
		t.Errorf("anchors: %+v", anchors)
	}
	l.must(t, msp31, "AnchorAudit", js(t, AuditInput{Node: strings.Repeat("n", 128), Seq: 1, Head: head}))
}

// TestReadOnlyNeedsNoCaller: queries run without a caller identity, writes
// need one that names a region.
func TestReadOnlyNeedsNoCaller(t *testing.T) {
	l := consortium(t)
	if _, err := l.call("", "ListRegions"); err != nil {
		t.Error(err)
	}
	if _, err := l.call("", "AnchorAudit", "{}"); !errors.Is(err, ErrUnknownCaller) {
		t.Errorf("write without a caller: %v", err)
	}
	for _, fn := range Functions() {
		if strings.HasPrefix(fn, "Get") || strings.HasPrefix(fn, "List") {
			if !ReadOnly(fn) {
				t.Errorf("%s is not read-only", fn)
			}
		} else if ReadOnly(fn) {
			t.Errorf("%s is read-only", fn)
		}
	}
}

func TestWireErrors(t *testing.T) {
	err := fmt.Errorf("%w: %s/%s", ErrBatchConflict, "310000", "b1")
	msg := "endorse: chaincode response 500, " + WireMessage(err)
	got := FromWire(msg)
	if !errors.Is(got, ErrBatchConflict) || !strings.Contains(got.Error(), "310000/b1") {
		t.Fatalf("FromWire(%q) = %v", msg, got)
	}
	if FromWire("connection refused") != nil {
		t.Error("plain text read as a contract error")
	}
	if FromWire(WireMessage(errors.New("disk"))) != nil {
		t.Error("internal error mapped to a sentinel")
	}
}

// TestGoldenRecords pins the stored records: a scenario's whole state,
// key by key. Regenerate with go test ./chaincode -run Golden -update.
func TestGoldenRecords(t *testing.T) {
	l := consortium(t)
	l.must(t, msp31, "AddRegionKey", js(t, edJWK(t, 9, "310000-k2")))
	l.must(t, msp31, "SetRegionKeyState", "310000-k1", KeyRetiring)
	l.must(t, msp31, "PutIssuer", js(t, Issuer{ID: "did:web:310000.trustid.example:issuer", Types: []string{"ResidenceCredential"},
		Keys: []RegistryKey{{JWK: sm2JWK(t, 5, "iss-1")}}, Status: EntryActive}))
	l.must(t, msp32, "PutRelyingParty", js(t, RelyingParty{ClientID: "rp-32", JWKS: gm.JWKS{Keys: []gm.JWK{sm2JWK(t, 6, "rp-1")}},
		Scopes: []string{"openid"}, Claims: []string{"age_over_18"}, Status: EntryActive}))
	l.must(t, msp31, "PutTerminal", js(t, Terminal{ID: "T-1", Kind: "counter", Key: sm2JWK(t, 7, "t-1"), Status: EntryActive}))
	in, _ := NewBatchInput("node-a-1", []StatusChange{{List: "00000001aaaaaaaa", Index: 5, Status: 1}, {List: "00000002aaaaaaaa", Index: 300, Status: 2}, {List: "00000001aaaaaaaa", Index: 6, Status: 1}})
	l.must(t, msp31, "AnchorBatch", js(t, in))
	l.must(t, msp31, "PutStatusHeads", js(t, []HeadInput{{List: "00000001aaaaaaaa", Version: 3, Digest: ListDigest([]byte("L1 v3"))}}))
	l.must(t, msp31, "AnchorAudit", js(t, AuditInput{Node: "node-a", Seq: 42, Head: strings.Repeat("ab", 32)}))
	l.must(t, msp44, "RequestRegion", regionInput(t, "440000", 4))
	l.must(t, msp31, "Vote", ActionAdmit, "440000")
	l.must(t, msp32, "ClaimSector", js(t, SectorClaim{Kind: SectorKindIdentifier, Name: "rp.example", ClientID: "rp-32"}))
	l.must(t, msp31, "BindCredentialIDs", js(t, BindingsInput{Region: "310000", Bindings: []CredentialBinding{{Key: bindingKey(1), Value: bindingValue(1)}}}))

	var buf bytes.Buffer
	keys := slices.Sorted(maps.Keys(l.st.KV))
	for _, k := range keys {
		typ, attrs, err := SplitCompositeKey(k)
		if err != nil {
			t.Fatal(err)
		}
		var pretty bytes.Buffer
		json.Indent(&pretty, l.st.KV[k], "", "  ")
		fmt.Fprintf(&buf, "== %s %s\n%s\n", typ, strings.Join(attrs, " "), pretty.String())
	}
	path := filepath.Join("testdata", "records.golden")
	if *update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if !bytes.Equal(want, buf.Bytes()) {
		t.Errorf("stored records differ from %s (run with -update if intended):\n%s", path, buf.String())
	}
	// Personal data never reaches the ledger: no 18-digit runs (resident
	// ID numbers) anywhere in the state.
	for k, v := range l.st.KV {
		if hasDigitRun(k+string(v), 15) {
			t.Errorf("%q holds a long digit run", k)
		}
	}
}

func hasDigitRun(s string, n int) bool {
	run := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			run++
			if run >= n {
				return true
			}
		} else {
			run = 0
		}
	}
	return false
}

func TestCompositeKeys(t *testing.T) {
	k, err := CompositeKey("batch", "310000", "b1")
	if err != nil || k != "\x00batch\x00310000\x00b1\x00" {
		t.Fatalf("%q %v", k, err)
	}
	typ, attrs, err := SplitCompositeKey(k)
	if err != nil || typ != "batch" || !slices.Equal(attrs, []string{"310000", "b1"}) {
		t.Fatalf("split: %s %v %v", typ, attrs, err)
	}
	for _, bad := range []string{"a\x00b", "\xff", string(rune(0x10FFFF))} {
		if _, err := CompositeKey("x", bad); !errors.Is(err, ErrBadKey) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if _, err := CompositeKey("x", strings.Repeat("a", 2000)); !errors.Is(err, ErrBadKey) {
		t.Error("oversized key accepted")
	}
}

// TestSectorsAreUnique: a pairwise sector is held by one relying party of
// the consortium. Region 320000 cannot claim the sector identifier a
// party of 310000 holds, nor another of its own parties; the holder's
// claim again is a no-op; a client ID sector is its client's only.
func TestSectorsAreUnique(t *testing.T) {
	l := consortium(t)
	claim := func(kind, name, client string) string {
		return js(t, SectorClaim{Kind: kind, Name: name, ClientID: client})
	}
	var got Sector
	json.Unmarshal(l.must(t, msp31, "ClaimSector", claim(SectorKindIdentifier, "bank.example", "bank-sh")), &got)
	if got.Region != "310000" || got.ClientID != "bank-sh" || got.Created.IsZero() {
		t.Fatalf("claimed: %+v", got)
	}
	l.must(t, msp31, "ClaimSector", claim(SectorKindIdentifier, "bank.example", "bank-sh")) // again: the same
	for name, c := range map[string]struct{ msp, arg string }{
		"another region's party":       {msp32, claim(SectorKindIdentifier, "bank.example", "bank-js")},
		"the same client ID elsewhere": {msp32, claim(SectorKindIdentifier, "bank.example", "bank-sh")},
		"another party of the region":  {msp31, claim(SectorKindIdentifier, "bank.example", "shop-sh")},
	} {
		if _, err := l.call(c.msp, "ClaimSector", c.arg); !errors.Is(err, ErrExists) {
			t.Errorf("%s: %v, want ErrExists", name, err)
		}
	}
	// A client ID used as sector is another kind: no clash with the host.
	l.must(t, msp32, "ClaimSector", claim(SectorKindClientID, "bank.example", "bank.example"))
	if _, err := l.call(msp31, "ClaimSector", claim(SectorKindClientID, "bank.example", "bank.example")); !errors.Is(err, ErrExists) {
		t.Errorf("client ID sector of another region: %v", err)
	}
	for name, arg := range map[string]string{
		"upper case host":      claim(SectorKindIdentifier, "Bank.example", "x-client"),
		"internal sector":      claim(SectorKindIdentifier, "trustid:binding", "x-client"),
		"NUL":                  claim(SectorKindIdentifier, "bank.example\x00", "x-client"),
		"client ID of another": claim(SectorKindClientID, "other-client", "x-client"),
		"unknown kind":         claim("internal", "trustid:binding", "x-client"),
		"bad client ID":        claim(SectorKindIdentifier, "x.example", "a b"),
		"unknown field":        `{"kind":"client_id","name":"abc","client_id":"abc","region":"320000"}`,
	} {
		if _, err := l.call(msp31, "ClaimSector", arg); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	json.Unmarshal(l.must(t, "", "GetSector", SectorKindIdentifier, "bank.example"), &got)
	if got.ClientID != "bank-sh" || got.Region != "310000" {
		t.Errorf("GetSector: %+v", got)
	}
	if _, err := l.call("", "GetSector", SectorKindIdentifier, "nobody.example"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unclaimed sector: %v", err)
	}
}

// TestSectorOfAnotherRegionsParty: a region claims sectors for its own
// relying parties only. 310000 claiming a sector for 320000's registered
// party is refused (ErrForeignParty, an ErrForbidden) and writes nothing,
// so 320000's own claim still succeeds; once 320000 holds it, 310000's
// claim returns it unchanged (how a node checks the sector of a party it
// serves through federation).
func TestSectorOfAnotherRegionsParty(t *testing.T) {
	l := consortium(t)
	l.must(t, msp32, "AddRelyingParty", js(t, RelyingParty{ClientID: "svc-b", Name: "B's party", JWKS: gm.JWKS{Keys: []gm.JWK{sm2JWK(t, 6, "k1")}},
		Scopes: []string{"qr:redeem"}, Status: EntryActive}))
	own := SectorClaim{Kind: SectorKindClientID, Name: "svc-b", ClientID: "svc-b"}
	for _, claim := range []SectorClaim{own, {Kind: SectorKindIdentifier, Name: "svc-b.example", ClientID: "svc-b"}} {
		before := maps.Clone(l.st.KV)
		_, err := l.call(msp31, "ClaimSector", js(t, claim))
		if !errors.Is(err, ErrForeignParty) || !errors.Is(err, ErrForbidden) {
			t.Errorf("310000 claimed %s %q for 320000's party: %v", claim.Kind, claim.Name, err)
		}
		if !maps.EqualFunc(before, l.st.KV, bytes.Equal) {
			t.Errorf("a refused claim changed the state")
		}
		if got := FromWire("peer: " + WireMessage(err)); !errors.Is(got, ErrForeignParty) {
			t.Errorf("wire: %v", got)
		}
	}
	var got Sector
	json.Unmarshal(l.must(t, msp32, "ClaimSector", js(t, own)), &got)
	if got.Region != "320000" || got.ClientID != "svc-b" {
		t.Errorf("320000's claim: %+v", got)
	}
	var again Sector
	json.Unmarshal(l.must(t, msp31, "ClaimSector", js(t, own)), &again)
	if again != got {
		t.Errorf("310000's claim of the sector 320000's party holds: %+v, want %+v", again, got)
	}
}

// TestIssuerKeysAndTypes: an issuer's keys keep their history (never
// removed, state changes only along the allowed transitions, the public
// key of a kid fixed), and no issuer is accredited for the enrollment
// types.
func TestIssuerKeysAndTypes(t *testing.T) {
	l := consortium(t)
	k1, k2 := sm2JWK(t, 5, "iss-1"), edJWK(t, 9, "iss-2")
	iss := Issuer{ID: "did:web:310000.trustid.example:issuers:rp-1", Types: []string{"ResidenceCredential"},
		Keys: []RegistryKey{{JWK: k1}}, Status: EntryActive}
	// By name, or as any node's vct for them (any host, port, escaping).
	for _, typ := range append(slices.Clone(EnrollmentTypes), "https://js.trustid.example/vct/IdentityCredential",
		"https://sh.trustid.example:443/vct/IdentityCredential/", "https://x.example/vct/DeviceBinding%43redential?v=1", "urn:x:IdentityCredential") {
		bad := iss
		bad.Types = []string{"ResidenceCredential", typ}
		if _, err := l.call(msp31, "PutIssuer", js(t, bad)); !errors.Is(err, ErrInvalid) {
			t.Errorf("issuer accredited for %s: %v", typ, err)
		}
	}
	var got Issuer
	json.Unmarshal(l.must(t, msp31, "PutIssuer", js(t, iss)), &got)
	if len(got.Keys) != 1 || got.Keys[0].Kid != "iss-1" || got.Keys[0].State != KeyActive || len(got.Keys[0].History) != 1 || got.Keys[0].Alg != gm.AlgSM2 {
		t.Fatalf("first put: %+v", got.Keys)
	}
	// Rotate: the old key retiring, a new one active.
	iss.Keys = []RegistryKey{{JWK: k1, State: KeyRetiring}, {JWK: k2}}
	json.Unmarshal(l.must(t, msp31, "PutIssuer", js(t, iss)), &got)
	if got.Keys[0].State != KeyRetiring || len(got.Keys[0].History) != 2 || got.Keys[1].State != KeyActive {
		t.Fatalf("rotation: %+v", got.Keys)
	}
	if _, ok := got.VerifyingKey("iss-1"); !ok {
		t.Error("a retiring key no longer verifies")
	}
	for name, keys := range map[string][]RegistryKey{
		"key dropped":          {{JWK: k2}},
		"retiring to active":   {{JWK: k1, State: KeyActive}, {JWK: k2}},
		"kid with another key": {{JWK: sm2JWK(t, 6, "iss-1")}, {JWK: k2}},
		"new key not active":   {{JWK: k1}, {JWK: k2}, {JWK: sm2JWK(t, 7, "iss-3"), State: KeyRetired}},
	} {
		bad := iss
		bad.Keys = keys
		if _, err := l.call(msp31, "PutIssuer", js(t, bad)); !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrKeyTransition) {
			t.Errorf("%s: %v", name, err)
		}
	}
	iss.Keys = []RegistryKey{{JWK: k1, State: KeyRevoked}, {JWK: k2}}
	json.Unmarshal(l.must(t, msp31, "PutIssuer", js(t, iss)), &got)
	if _, ok := got.VerifyingKey("iss-1"); ok || got.Keys[0].State != KeyRevoked || len(got.Keys[0].History) != 3 {
		t.Errorf("revoked key: %+v", got.Keys[0])
	}
}

// TestRegistryBadInput: a registry write with a malformed key, an unknown
// region, a duplicate ID or an unknown scope is refused with its own error
// and changes nothing (no state, no event).
func TestRegistryBadInput(t *testing.T) {
	l := consortium(t)
	rp := RelyingParty{ClientID: "svc-31", Name: "Shanghai portal", JWKS: gm.JWKS{Keys: []gm.JWK{sm2JWK(t, 6, "rp-1")}},
		Scopes: []string{"qr:redeem"}, Status: EntryActive}
	l.must(t, msp31, "AddRelyingParty", js(t, rp))
	term := Terminal{ID: "T-1", Kind: "counter", Location: "310104", Key: sm2JWK(t, 7, "T-1"), Status: EntryActive}
	l.must(t, msp31, "AddTerminal", js(t, term))

	badKey := sm2JWK(t, 8, "rp-2")
	badKey.X = badKey.Y // not on the curve
	withRP := func(f func(*RelyingParty)) string {
		x := rp
		x.ClientID = "svc-new"
		f(&x)
		return js(t, x)
	}
	withTerm := func(f func(*Terminal)) string {
		x := term
		x.ID = "T-new"
		f(&x)
		return js(t, x)
	}
	for _, tc := range []struct {
		name, fn, arg string
		want          *Error
	}{
		{"rp malformed key", "AddRelyingParty", withRP(func(x *RelyingParty) { x.JWKS.Keys = []gm.JWK{badKey} }), ErrMalformedKey},
		{"rp key without kid", "AddRelyingParty", withRP(func(x *RelyingParty) { k := sm2JWK(t, 9, ""); x.JWKS.Keys = []gm.JWK{k} }), ErrMalformedKey},
		{"rp unknown region", "AddRelyingParty", withRP(func(x *RelyingParty) { x.HomeRegion = "440000" }), ErrUnknownRegion},
		{"rp not a region", "AddRelyingParty", withRP(func(x *RelyingParty) { x.HomeRegion = "999999" }), ErrUnknownRegion},
		{"rp duplicate id", "AddRelyingParty", js(t, rp), ErrExists},
		{"rp unknown scope", "AddRelyingParty", withRP(func(x *RelyingParty) { x.Scopes = []string{"qr:redeem", "admin:everything"} }), ErrUnknownScope},
		{"rp no scope", "AddRelyingParty", withRP(func(x *RelyingParty) { x.Scopes = nil }), ErrUnknownScope},
		{"rp unknown ID token algorithm", "AddRelyingParty", withRP(func(x *RelyingParty) { x.IDTokenAlg = "none" }), ErrInvalid},
		{"rp access token alg none", "AddRelyingParty", withRP(func(x *RelyingParty) { x.AccessTokenAlg = "none" }), ErrInvalid},
		{"rp access token alg EdDSA", "AddRelyingParty", withRP(func(x *RelyingParty) { x.AccessTokenAlg = gm.AlgEdDSA }), ErrInvalid},
		{"rp update unknown scope", "PutRelyingParty", func() string { x := rp; x.Scopes = []string{"nope"}; return js(t, x) }(), ErrUnknownScope},
		{"terminal malformed key", "AddTerminal", withTerm(func(x *Terminal) { x.Key = badKey }), ErrMalformedKey},
		{"terminal unknown region", "AddTerminal", withTerm(func(x *Terminal) { x.Region = "440000" }), ErrUnknownRegion},
		{"terminal unknown location", "AddTerminal", withTerm(func(x *Terminal) { x.Location = "990101" }), ErrUnknownRegion},
		{"terminal duplicate id", "AddTerminal", js(t, term), ErrExists},
		{"terminal key change", "PutTerminal", func() string { x := term; x.Key = sm2JWK(t, 10, "T-1"); return js(t, x) }(), ErrMalformedKey},
		{"issuer malformed key", "PutIssuer", js(t, Issuer{ID: "did:web:x.example", Types: []string{"T"}, Keys: []RegistryKey{{JWK: badKey}}, Status: EntryActive}), ErrMalformedKey},
		// RFC 7517 §4.2, §4.3: a key for encryption ("use":"enc", or
		// key_ops without "verify") verifies no signature (it was stored
		// as "use":"sig").
		{"rp encryption key", "AddRelyingParty", withRP(func(x *RelyingParty) { k := sm2JWK(t, 9, "rp-2"); k.Use = "enc"; x.JWKS.Keys = []gm.JWK{k} }), ErrMalformedKey},
		{"terminal key_ops encrypt", "AddTerminal", withTerm(func(x *Terminal) { x.Key = sm2JWK(t, 9, "T-new"); x.Key.KeyOps = `["encrypt"]` }), ErrMalformedKey},
		{"issuer encryption key", "PutIssuer", js(t, Issuer{ID: "did:web:x.example", Types: []string{"T"}, Keys: []RegistryKey{{JWK: func() gm.JWK { k := sm2JWK(t, 9, "iss-9"); k.Use = "enc"; return k }()}}, Status: EntryActive}), ErrMalformedKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := maps.Clone(l.st.KV)
			_, err := l.call(msp31, tc.fn, tc.arg)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if !errors.Is(err, ErrInvalid) && tc.want != ErrExists {
				t.Errorf("%v is not also an ErrInvalid", err)
			}
			if !maps.EqualFunc(before, l.st.KV, bytes.Equal) || len(l.st.Events) != 0 {
				t.Errorf("a refused write changed the state or emitted an event")
			}
			// The error survives the trip through Fabric's error text.
			if got := FromWire("peer: " + WireMessage(err)); !errors.Is(got, tc.want) {
				t.Errorf("wire: %v", got)
			}
		})
	}
}

// TestRelyingPartyKeysAndVersion: rotation adds a key, then retires the
// old one (kept in the history, never back); a write naming an old
// version is refused with ErrStale.
func TestRelyingPartyKeysAndVersion(t *testing.T) {
	l := consortium(t)
	k1, k2 := sm2JWK(t, 6, "k1"), sm2JWK(t, 7, "k2")
	rp := RelyingParty{ClientID: "svc-31", JWKS: gm.JWKS{Keys: []gm.JWK{k1}}, Scopes: []string{"qr:redeem"}, Status: EntryActive,
		RedirectURIs: []string{"https://svc.example/cb"}, PostLogoutRedirectURIs: []string{"https://svc.example/bye"}, SectorIdentifier: "svc.example"}
	get := func() RelyingParty {
		var x RelyingParty
		json.Unmarshal(l.must(t, "", "GetRelyingParty", rp.ClientID), &x)
		return x
	}
	l.must(t, msp31, "AddRelyingParty", js(t, rp))
	got := get()
	if got.Version != 1 || got.AuthMethod != AuthPrivateKeyJWT || len(got.GrantTypes) != 1 || got.RedirectURIs[0] != rp.RedirectURIs[0] || got.PostLogoutRedirectURIs[0] != rp.PostLogoutRedirectURIs[0] {
		t.Fatalf("added: %+v", got)
	}
	got.JWKS.Keys = []gm.JWK{k1, k2}
	l.must(t, msp31, "PutRelyingParty", js(t, got))
	stale := got // version 1
	got = get()
	got.JWKS.Keys = []gm.JWK{k2}
	l.must(t, msp31, "PutRelyingParty", js(t, got))
	got = get()
	if got.Version != 3 || len(got.JWKS.Keys) != 1 || got.JWKS.Keys[0].Kid != "k2" || len(got.Keys) != 2 ||
		got.Keys[0].State != KeyRetired || len(got.Keys[0].History) != 2 || got.Keys[1].State != KeyActive {
		t.Fatalf("after rotation: %+v", got)
	}
	if _, err := l.call(msp31, "PutRelyingParty", js(t, stale)); !errors.Is(err, ErrStale) {
		t.Errorf("stale write: %v", err)
	}
	got.JWKS.Keys = []gm.JWK{k1, k2}
	if _, err := l.call(msp31, "PutRelyingParty", js(t, got)); !errors.Is(err, ErrKeyTransition) {
		t.Errorf("a retired key came back: %v", err)
	}
	sec := RelyingParty{ClientID: "svc-secret", Scopes: []string{"qr:redeem"}, Status: EntryActive, AuthMethod: AuthClientSecretBasic,
		SecretVerifier: "hmac-sm3$" + strings.Repeat("A", 22) + "$" + strings.Repeat("B", 43)}
	l.must(t, msp31, "AddRelyingParty", js(t, sec))
	sec.SecretVerifier = "the-secret-itself"
	sec.ClientID = "svc-secret2"
	if _, err := l.call(msp31, "AddRelyingParty", js(t, sec)); !errors.Is(err, ErrInvalid) {
		t.Errorf("a raw secret was accepted as verifier: %v", err)
	}
}

// TestIsEnrollmentType: the enrollment types by name or as a URI's last
// segment, and nothing that only resembles them.
func TestIsEnrollmentType(t *testing.T) {
	for _, typ := range []string{"IdentityCredential", "DeviceBindingCredential", "https://a.example/vct/IdentityCredential",
		"https://a.example:443/vct/IdentityCredential/", "https://a.example/vct/Identity%43redential", "https://a.example/x/IdentityCredential#f",
		"urn:example:IdentityCredential", "https://a.example/vct/IdentityCredential/.", "https://a.example/vct/IdentityCredential/x/..",
		"https://a.example/vct/IdentityCredential%2F", "https://a.example/vct/IdentityCredential/./"} {
		if !IsEnrollmentType(typ) {
			t.Errorf("%q: not an enrollment type", typ)
		}
	}
	for _, typ := range []string{"ResidenceCredential", "identitycredential", "https://a.example/vct/IdentityCredentialX",
		"https://a.example/vct/IdentityCredential/extra", "IdentityCredential2", ""} {
		if IsEnrollmentType(typ) {
			t.Errorf("%q: an enrollment type", typ)
		}
	}
}

// A region may not name another region's DID or endpoint URL, whatever
// that region's status, in RequestRegion or UpdateRegion; URLs compare
// with scheme and host case, default port and trailing slashes ignored.
func TestRegionClaimsUnique(t *testing.T) {
	l := consortium(t)
	req := func(did, url string) string {
		return js(t, RegionInput{Code: "440000", DID: did, Endpoints: []Endpoint{{Type: "api", URL: url}},
			Keys: []gm.JWK{sm2JWK(t, 4, "440000-k1")}})
	}
	upd := func(code, did string, eps ...Endpoint) string {
		return js(t, RegionInput{Code: code, DID: did, Endpoints: eps})
	}
	api := func(u string) Endpoint { return Endpoint{Type: "api", URL: u} }
	const did44, url44 = "did:web:440000.trustid.example", "https://440000.trustid.example"
	for name, arg := range map[string]string{
		"DID":                  req("did:web:310000.trustid.example", url44),
		"URL":                  req(did44, "https://310000.trustid.example"),
		"URL trailing slash":   req(did44, "https://310000.trustid.example/"),
		"URL host case":        req(did44, "HTTPS://310000.TrustID.Example"),
		"URL default port":     req(did44, "https://310000.trustid.example:443/"),
		"URL of a pending one": req(did44, "https://320000.trustid.example"),
	} {
		if _, err := l.call(msp44, "RequestRegion", arg); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "region 3") {
			t.Errorf("RequestRegion naming another region's %s: %v", name, err)
		}
	}
	// Another port or path is another endpoint.
	l.must(t, msp44, "RequestRegion", req(did44, "https://310000.trustid.example:8443"))
	l.must(t, msp31, "Vote", ActionAdmit, "440000")
	l.must(t, msp32, "Vote", ActionAdmit, "440000")

	// Suspend 320000: its DID and URL stay its own.
	l.must(t, msp31, "Vote", ActionSuspend, "320000")
	l.must(t, msp44, "Vote", ActionSuspend, "320000")
	if r := region(t, l, "320000"); r.Status != RegionSuspended {
		t.Fatalf("320000 is %s", r.Status)
	}
	for name, arg := range map[string]string{
		"DID":              upd("310000", "did:web:320000.trustid.example", api("https://310000.trustid.example")),
		"api URL":          upd("310000", "did:web:310000.trustid.example", api("HTTPS://320000.trustid.example:443//")),
		"other type's URL": upd("310000", "did:web:310000.trustid.example", api("https://310000.trustid.example"), Endpoint{Type: "web", URL: "https://310000.TRUSTID.example:8443/"}),
	} {
		if _, err := l.call(msp31, "UpdateRegion", arg); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "region ") {
			t.Errorf("UpdateRegion naming another region's %s: %v", name, err)
		}
	}
	// A region re-sends its own values, or changes only their spelling.
	l.must(t, msp31, "UpdateRegion", upd("310000", "did:web:310000.trustid.example", api("https://310000.trustid.example")))
	l.must(t, msp31, "UpdateRegion", upd("310000", "did:web:310000.trustid.example", api("https://310000.trustid.example:443/")))
	l.must(t, msp44, "UpdateRegion", upd("440000", did44, api("https://310000.trustid.example:8443"), Endpoint{Type: "web", URL: url44}))
	if r := region(t, l, "310000"); r.DID != "did:web:310000.trustid.example" || r.Endpoints[0].URL != "https://310000.trustid.example:443/" {
		t.Errorf("310000 after updates: %+v", r)
	}
}

// A region's DID and endpoints may not sit on another region's host
// (Region.Hosts), whether the region asking is admitted or pending: the
// host's issuers (did:web:<host>:issuers:<client>) are the other
// region's to write, and stay so.
func TestRegionMayNotTakeAnotherRegionsHost(t *testing.T) {
	l := consortium(t)
	for name, eps := range map[string][]Endpoint{
		"another path":     {{Type: "api", URL: "https://320000.trustid.example"}, {Type: "mirror", URL: "https://310000.trustid.example/mirror/320000"}},
		"host case":        {{Type: "api", URL: "https://310000.TrustID.example./320000"}},
		"the default port": {{Type: "api", URL: "https://310000.trustid.example:443/320000"}},
		"a leading zero":   {{Type: "api", URL: "https://310000.trustid.example:0443/320000"}},
	} {
		_, err := l.call(msp32, "UpdateRegion", js(t, RegionInput{Code: "320000", DID: "did:web:320000.trustid.example", Endpoints: eps}))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "host 310000.trustid.example of region 310000") {
			t.Errorf("320000 took 310000's host (%s): %v", name, err)
		}
	}
	if _, err := l.call(msp32, "UpdateRegion", js(t, RegionInput{Code: "320000", DID: "did:web:310000.trustid.example:320000",
		Endpoints: []Endpoint{{Type: "api", URL: "https://320000.trustid.example"}}})); !errors.Is(err, ErrInvalid) {
		t.Errorf("320000 took a DID on 310000's host: %v", err)
	}
	// A region not admitted yet, in its admission request.
	for name, in := range map[string]RegionInput{
		"endpoint": {Code: "440000", DID: "did:web:440000.trustid.example", Endpoints: []Endpoint{{Type: "api", URL: "https://310000.trustid.example/440000"}}},
		"DID":      {Code: "440000", DID: "did:web:310000.trustid.example:440000", Endpoints: []Endpoint{{Type: "api", URL: "https://440000.trustid.example"}}},
	} {
		in.Keys = []gm.JWK{sm2JWK(t, 4, "440000-k1")}
		if _, err := l.call(msp44, "RequestRegion", js(t, in)); !errors.Is(err, ErrInvalid) {
			t.Errorf("a pending region's request named a %s on 310000's host: %v", name, err)
		}
	}
	// Another port is another host.
	l.must(t, msp32, "UpdateRegion", js(t, RegionInput{Code: "320000", DID: "did:web:320000.trustid.example",
		Endpoints: []Endpoint{{Type: "api", URL: "https://320000.trustid.example"}, {Type: "mirror", URL: "https://310000.trustid.example:8443/320000"}}}))
	l.must(t, msp31, "PutIssuer", js(t, Issuer{ID: "did:web:310000.trustid.example:issuers:rp-1", Types: []string{"ResidenceCredential"},
		Keys: []RegistryKey{{JWK: sm2JWK(t, 5, "iss-1")}}, Status: EntryActive}))
}

// TestIssuerTypesOnAnotherRegionsHost: a credential type that is a URL
// (an SD-JWT VC vct) or a did:web on a host of another region's record,
// or of another region's issuer, is that region's type: no issuer of the
// caller's is accredited for it (a relying party asking for a region's
// credentials by its vct would take them for that region's). Type names,
// URNs and URLs on hosts no other region claims are free.
func TestIssuerTypesOnAnotherRegionsHost(t *testing.T) {
	l := consortium(t)
	put := func(msp, id string, types ...string) error {
		_, err := l.call(msp, "PutIssuer", js(t, Issuer{ID: id, Types: types,
			Keys: []RegistryKey{{JWK: sm2JWK(t, 5, "iss-1")}}, Status: EntryActive}))
		return err
	}
	if err := put(msp31, "did:web:university.example:a", "https://310000.trustid.example/vct/ResidenceCredential", "https://university.example/vct/Degree"); err != nil {
		t.Fatal(err)
	}
	const id32 = "did:web:320000.trustid.example:issuers:x"
	for _, typ := range []string{
		"https://310000.trustid.example/vct/ResidenceCredential",
		"https://310000.TrustID.example.:0443/vct/ResidenceCredential",
		"http://310000.trustid.example/vct/ResidenceCredential",
		"did:web:310000.trustid.example:types:Residence",
		"https://university.example/vct/Degree",
	} {
		if err := put(msp32, id32, "ResidenceCredential", typ); !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), "of region 310000") {
			t.Errorf("320000 accredited its issuer for %s: %v", typ, err)
		}
	}
	if _, err := l.call("", "GetIssuer", id32); !errors.Is(err, ErrNotFound) {
		t.Errorf("a refused issuer was written: %v", err)
	}
	if err := put(msp32, id32, "ResidenceCredential", "https://320000.trustid.example/vct/ResidenceCredential",
		"https://schemas.example.org/vct/Diploma", "urn:example:type:diploma", "https://310000.trustid.example:8443/vct/X"); err != nil {
		t.Errorf("types on 320000's own host, no region's host, or with no host: %v", err)
	}
}

// An issuer record's host is first come between regions: once one
// region's issuer is on a host, another region writes no issuer there,
// under another path, the bare host, or the host in another case (did:web
// hosts are case-insensitive, as DNS is). The first region writes more.
func TestIssuerHostsFirstCome(t *testing.T) {
	l := consortium(t)
	put := func(msp, id string) error {
		_, err := l.call(msp, "PutIssuer", js(t, Issuer{ID: id, Types: []string{"ResidenceCredential"},
			Keys: []RegistryKey{{JWK: sm2JWK(t, 5, "iss-1")}}, Status: EntryActive}))
		return err
	}
	if err := put(msp31, "did:web:university.example:a"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"did:web:university.example:b", "did:web:university.example", "did:web:University.Example:a",
		"did:web:university.example.%3A443:c", "https://UNIVERSITY.example/d", "https://university.example:0443/e"} {
		if err := put(msp32, id); !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), "of region 310000") {
			t.Errorf("320000 wrote issuer %s on the host of 310000's issuer: %v", id, err)
		}
	}
	for _, id := range []string{"did:web:university.example:b", "https://university.example/c"} {
		if err := put(msp31, id); err != nil {
			t.Errorf("310000's second issuer on its issuer's host, %s: %v", id, err)
		}
	}
	// Another port is another host.
	if err := put(msp32, "did:web:university.example%3A8443:a"); err != nil {
		t.Error(err)
	}
}

// An issuer ID may not be a region's DID or endpoint URL, whatever the
// region's status, nor, for another region, a DID or URL on the region's
// host (IDHost: host case, a trailing dot, the default port, userinfo and
// percent-encoding do not hide it); in the other order, a region may not
// take a DID, endpoint or host an issuer record claims.
func TestIssuerIDsOfRegions(t *testing.T) {
	l := consortium(t)
	l.must(t, msp44, "RequestRegion", regionInput(t, "440000", 4)) // pending
	put := func(msp, id string) error {
		_, err := l.call(msp, "PutIssuer", js(t, Issuer{ID: id, Types: []string{"ResidenceCredential"},
			Keys: []RegistryKey{{JWK: sm2JWK(t, 5, "iss-1")}}, Status: EntryActive}))
		return err
	}
	for _, id := range []string{
		"did:web:310000.trustid.example",
		"https://310000.trustid.example",
		"https://310000.trustid.example:443/",
		"did:web:310000.trustid.example:issuers:squat",
		"did:web:310000.TrustID.example.%3A443:issuers:squat",
		"did:web:evil%40310000.trustid.example:x",
		"https://310000.trustid.example:0443/issuers/squat",
		"did:web:310000.trustid.example%3A00443:issuers:squat",
		"HTTPS://310000.trustid.example/issuers/squat",
		"did:web:440000.trustid.example:issuers:squat",
	} {
		if err := put(msp32, id); !errors.Is(err, ErrForbidden) {
			t.Errorf("320000 wrote issuer %s: %v", id, err)
		}
	}
	for _, id := range []string{"did:key:zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169", "did:jwk:eyJrdHkiOiJFQyJ9", "urn:example:issuer", "did:example:123"} {
		if err := put(msp31, id); !errors.Is(err, ErrInvalid) {
			t.Errorf("an issuer record for an ID with no host, %s: %v", id, err)
		}
	}
	for _, id := range []string{"did:web:310000.trustid.example", "https://310000.trustid.example/", "https://310000.trustid.example:0443"} {
		if err := put(msp31, id); !errors.Is(err, ErrForbidden) {
			t.Errorf("310000 wrote an issuer named as its own node, %s: %v", id, err)
		}
	}
	for _, id := range []string{"did:web:310000.trustid.example:issuers:rp-1", "https://310000.trustid.example/issuers/rp-1"} {
		if err := put(msp31, id); err != nil {
			t.Errorf("310000's own hosted issuer %s: %v", id, err)
		}
	}
	// Another port is another host.
	if err := put(msp32, "did:web:310000.trustid.example%3A8443"); err != nil {
		t.Errorf("issuer on another port: %v", err)
	}
	if err := put(msp32, "did:web:issuer.example:a"); err != nil {
		t.Fatal(err)
	}

	// The other order: what an issuer record claims, no region takes.
	upd := func(msp, code, did, url string) error {
		_, err := l.call(msp, "UpdateRegion", js(t, RegionInput{Code: code, DID: did, Endpoints: []Endpoint{{Type: "api", URL: url}}}))
		return err
	}
	for name, err := range map[string]error{
		"DID":                  upd(msp31, "310000", "did:web:issuer.example:a", "https://310000.trustid.example"),
		"another's host (DID)": upd(msp31, "310000", "did:web:issuer.example", "https://310000.trustid.example"),
		"another's host (URL)": upd(msp31, "310000", "did:web:310000.trustid.example", "https://issuer.example/api"),
		"own issuer's ID":      upd(msp31, "310000", "did:web:310000.trustid.example", "https://310000.trustid.example/issuers/rp-1"),
	} {
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "issuer ") {
			t.Errorf("UpdateRegion to a %s an issuer record claims: %v", name, err)
		}
	}
	in := js(t, RegionInput{Code: "110000", DID: "did:web:110000.trustid.example", Endpoints: []Endpoint{{Type: "api", URL: "https://issuer.example"}},
		Keys: []gm.JWK{sm2JWK(t, 8, "110000-k1")}})
	if _, err := l.call("Region110000MSP", "RequestRegion", in); !errors.Is(err, ErrInvalid) {
		t.Errorf("RequestRegion on the host of 320000's issuer: %v", err)
	}
	// The owner itself may move its node onto its issuer's host.
	if err := upd(msp32, "320000", "did:web:320000.trustid.example", "https://issuer.example/api"); err != nil {
		t.Errorf("320000 onto its own issuer's host: %v", err)
	}
}

func TestIDHost(t *testing.T) {
	for id, want := range map[string]string{
		"did:web:a.example":                  "a.example",
		"did:web:A.Example.:x:y":             "a.example",
		"did:web:a.example%3A443":            "a.example",
		"did:web:a.example%3A8443:issuers:x": "a.example:8443",
		"did:web:u%40a.example":              "a.example",
		"https://A.example:443/x":            "a.example",
		"HTTP://a.example:80":                "a.example",
		"http://a.example:443":               "a.example:443",
		"https://[::1]:8443/":                "[::1]:8443",
		"https://[0:0::1]:8443/":             "[::1]:8443",
		"https://[::ffff:10.0.0.1]/":         "10.0.0.1",
		"https://a.example:0443/x":           "a.example", // dialled as 443
		"http://a.example:0080":              "a.example",
		"did:web:a.example%3A000443":         "a.example",
		"did:web:a.example%3A08443:issuers":  "a.example:8443",
		"https://[::1]:08443/":               "[::1]:8443",
		"https://a.example:65536/":           "",
		"did:web:a.example%3A99999":          "",
		"did:web:%E4%BE%8B%E5%AD%90.cn":      "",
		"https://%E4%BE%8B%E5%AD%90.cn/":     "",
		"did:key:z6Mk":                       "",
		"urn:x:a.example":                    "",
		"did:web:%zz":                        "",
		"https:///x":                         "",
	} {
		got, ok := IDHost(id)
		if got != want || ok != (want != "") {
			t.Errorf("IDHost(%q) = %q, %v; want %q", id, got, ok, want)
		}
	}
}

// TestSuspendedVotersVoteDoesNotCount: a vote stored in a proposal by a
// region suspended since it voted no longer counts towards the strict
// majority of the other active regions. 310000 votes to suspend 440000
// and is then suspended itself; 320000's vote alone (1 of the 2 active
// voters, 320000 and 330000) must not suspend 440000.
func TestSuspendedVotersVoteDoesNotCount(t *testing.T) {
	const msp33 = "Region330000MSP"
	l := newLedger()
	l.must(t, msp31, "RequestRegion", regionInput(t, "310000", 1))
	l.must(t, msp32, "RequestRegion", regionInput(t, "320000", 2))
	l.must(t, msp31, "Vote", ActionAdmit, "320000")
	l.must(t, msp44, "RequestRegion", regionInput(t, "440000", 4))
	l.must(t, msp31, "Vote", ActionAdmit, "440000")
	l.must(t, msp32, "Vote", ActionAdmit, "440000")
	l.must(t, msp33, "RequestRegion", regionInput(t, "330000", 3))
	l.must(t, msp31, "Vote", ActionAdmit, "330000")
	l.must(t, msp32, "Vote", ActionAdmit, "330000")
	for _, c := range []string{"310000", "320000", "330000", "440000"} {
		if r := region(t, l, c); r.Status != RegionActive {
			t.Fatalf("%s is %s", c, r.Status)
		}
	}
	// 310000 votes to suspend 440000 (1 of 3), then is suspended by 320000,
	// 330000 and 440000 (3 of 3).
	l.must(t, msp31, "Vote", ActionSuspend, "440000")
	l.must(t, msp32, "Vote", ActionSuspend, "310000")
	l.must(t, msp33, "Vote", ActionSuspend, "310000")
	if r := region(t, l, "310000"); r.Status == RegionActive {
		l.must(t, msp44, "Vote", ActionSuspend, "310000")
	}
	if r := region(t, l, "310000"); r.Status != RegionSuspended {
		t.Fatalf("310000 is %s", r.Status)
	}
	// Voters on 440000 now: 320000 and 330000. One of them is no majority.
	l.must(t, msp32, "Vote", ActionSuspend, "440000")
	if r := region(t, l, "440000"); r.Status != RegionActive {
		t.Fatalf("440000 %s by 320000's vote and the stale vote of suspended 310000", r.Status)
	}
}

// TestMajorityLeftByASuspension: votes that became a strict majority of
// the active regions because a voter was suspended meanwhile are applied
// when a region that voted confirms its vote. Before, the confirmation
// was refused (already_voted) and nothing else could apply them: with
// 310000 and 440000 left active, 310000's standing vote to suspend
// 440000 was one of one, yet 440000 could never be suspended.
func TestMajorityLeftByASuspension(t *testing.T) {
	l := newLedger()
	l.must(t, msp31, "RequestRegion", regionInput(t, "310000", 1))
	l.must(t, msp32, "RequestRegion", regionInput(t, "320000", 2))
	l.must(t, msp31, "Vote", ActionAdmit, "320000")
	l.must(t, msp44, "RequestRegion", regionInput(t, "440000", 4))
	l.must(t, msp31, "Vote", ActionAdmit, "440000")
	l.must(t, msp32, "Vote", ActionAdmit, "440000")
	// 310000 votes to suspend 440000: 1 of 2, not yet.
	l.must(t, msp31, "Vote", ActionSuspend, "440000")
	if r := region(t, l, "440000"); r.Status != RegionActive {
		t.Fatalf("440000 is %s after 1 of 2 votes", r.Status)
	}
	// 320000 is suspended by 310000 and 440000 (2 of 2).
	l.must(t, msp31, "Vote", ActionSuspend, "320000")
	l.must(t, msp44, "Vote", ActionSuspend, "320000")
	if r := region(t, l, "320000"); r.Status != RegionSuspended {
		t.Fatalf("320000 is %s", r.Status)
	}
	// The voters on 440000 are now 310000 alone, whose vote stands.
	if _, err := l.call(msp31, "Vote", ActionSuspend, "440000"); err != nil {
		t.Fatalf("310000 confirming its vote, a majority of the active regions: %v", err)
	}
	if r := region(t, l, "440000"); r.Status != RegionSuspended {
		t.Fatalf("440000 is %s with 1 of 1 votes", r.Status)
	}
	if _, err := l.call("", "GetProposal", ActionSuspend, "440000"); !errors.Is(err, ErrNotFound) {
		t.Errorf("proposal kept after it applied: %v", err)
	}
}

// TestRegionDIDSyntax: a region's DID must be a DID (DID Core §3.1: a
// lower-case method name, a method-specific ID of idchars whose last
// segment is not empty, no path, query or fragment), and each endpoint
// URL must name a host; RequestRegion and UpdateRegion refuse anything
// else as invalid and write nothing.
func TestRegionDIDSyntax(t *testing.T) {
	in := func(did, url string) string {
		return js(t, RegionInput{Code: "310000", DID: did, Name: "node 310000",
			Endpoints: []Endpoint{{Type: "api", URL: url}}, Keys: []gm.JWK{sm2JWK(t, 1, "310000-k1")}})
	}
	const okURL = "https://310000.trustid.example"
	for _, did := range []string{"did::x", "did:web:", "did:web:x:", "did:WEB:x", "did:web:x#key-1",
		"did:web:x/path", "did:web:x?versionId=1", "did:web:x;p=1", "did:web:%zz", "did:web:x%2", "did:web:a~b",
		"did:web:310000.trustid.example%3A65536", "did:web:%E4%BE%8B%E5%AD%90.cn"} {
		l := newLedger()
		if _, err := l.call(msp31, "RequestRegion", in(did, okURL)); !errors.Is(err, ErrInvalid) {
			t.Errorf("RequestRegion with DID %q: %v, want invalid", did, err)
		}
		if len(l.st.KV) != 0 {
			t.Errorf("RequestRegion with DID %q wrote %d keys", did, len(l.st.KV))
		}
	}
	// Not a base URL (BaseURL, which federation.CheckEndpoint applies
	// too): a node would not call it.
	notBase := []string{"https://310000.trustid.example/a?", "https://310000.trustid.example#", "https://310000.trustid.example/?x=1",
		"https://310000.trustid.example/a#f", "https://u@310000.trustid.example", "https:310000.trustid.example"}
	for _, u := range append([]string{"https://:443", "http://:80/path", "https://310000.trustid.example:65536", "https://%E4%BE%8B%E5%AD%90.cn/"}, notBase...) {
		l := newLedger()
		if _, err := l.call(msp31, "RequestRegion", in("did:web:310000.trustid.example", u)); !errors.Is(err, ErrInvalid) {
			t.Errorf("RequestRegion with endpoint %q: %v, want invalid", u, err)
		}
	}
	l := newLedger()
	l.must(t, msp31, "RequestRegion", in("did:web:310000.trustid.example", okURL))
	for _, did := range []string{"did:web:localhost%3A8443:regions:310000", "did:example:a::b", "did:key:z6Mk-_.9", "did:web:310000.trustid.example"} {
		if _, err := l.call(msp31, "UpdateRegion", js(t, RegionInput{Code: "310000", DID: did, Endpoints: []Endpoint{{Type: "api", URL: okURL}}})); err != nil {
			t.Errorf("UpdateRegion with DID %q: %v", did, err)
		}
	}
	before := region(t, l, "310000")
	for _, u := range notBase {
		if _, err := l.call(msp31, "UpdateRegion", js(t, RegionInput{Code: "310000", DID: "did:web:310000.trustid.example", Endpoints: []Endpoint{{Type: "api", URL: u}}})); !errors.Is(err, ErrInvalid) {
			t.Errorf("UpdateRegion with endpoint %q: %v, want invalid", u, err)
		}
	}
	if _, err := l.call(msp31, "UpdateRegion", js(t, RegionInput{Code: "310000", DID: "did:web:x#key-1", Endpoints: []Endpoint{{Type: "api", URL: okURL}}})); !errors.Is(err, ErrInvalid) {
		t.Errorf("UpdateRegion to a DID URL: %v, want invalid", err)
	}
	if after := region(t, l, "310000"); after.DID != before.DID {
		t.Errorf("a refused update changed the DID to %q", after.DID)
	}
}

// TestNamesWithoutControlCharacters: a name is "at most 128 characters
// without control characters", C1 controls (U+0080 to U+009F, such as
// U+009B, an 8-bit CSI) included, in every record that has one.
func TestNamesWithoutControlCharacters(t *testing.T) {
	for _, name := range []string{"a\x1bb", "a\u0085b", "a\u009b31mb", "\u009f"} {
		l := newLedger()
		in := RegionInput{Code: "310000", DID: "did:web:310000.trustid.example", Name: name,
			Endpoints: []Endpoint{{Type: "api", URL: "https://310000.trustid.example"}}, Keys: []gm.JWK{sm2JWK(t, 1, "310000-k1")}}
		if _, err := l.call(msp31, "RequestRegion", js(t, in)); !errors.Is(err, ErrInvalid) {
			t.Errorf("region name %q: %v, want invalid", name, err)
		}
		in.Name = "node 310000"
		l.must(t, msp31, "RequestRegion", js(t, in))
		before := maps.Clone(l.st.KV)
		iss := Issuer{ID: "https://issuer.example/a", Name: name, Types: []string{"ResidenceCredential"},
			Keys: []RegistryKey{{JWK: sm2JWK(t, 5, "i1")}}, Status: EntryActive}
		if _, err := l.call(msp31, "PutIssuer", js(t, iss)); !errors.Is(err, ErrInvalid) {
			t.Errorf("issuer name %q: %v, want invalid", name, err)
		}
		term := Terminal{ID: "t-1", Kind: "counter", Name: name, Key: sm2JWK(t, 6, "t1"), Status: EntryActive}
		if _, err := l.call(msp31, "AddTerminal", js(t, term)); !errors.Is(err, ErrInvalid) {
			t.Errorf("terminal name %q: %v, want invalid", name, err)
		}
		if !maps.EqualFunc(before, l.st.KV, bytes.Equal) {
			t.Errorf("a refused name %q changed the state", name)
		}
	}
	l := newLedger()
	in := RegionInput{Code: "310000", DID: "did:web:310000.trustid.example", Name: "上海市 node ©",
		Endpoints: []Endpoint{{Type: "api", URL: "https://310000.trustid.example"}}, Keys: []gm.JWK{sm2JWK(t, 1, "310000-k1")}}
	l.must(t, msp31, "RequestRegion", js(t, in))
}

// TestIssuerDIDSyntax: an issuer ID that is a DID must be a DID (DID Core
// §3.1), not a DID URL with a fragment, path or query, which names a
// resource of a DID and no issuer; the write is refused and changes
// nothing.
func TestIssuerDIDSyntax(t *testing.T) {
	l := consortium(t)
	iss := func(id string) string {
		return js(t, Issuer{ID: id, Types: []string{"ResidenceCredential"}, Keys: []RegistryKey{{JWK: sm2JWK(t, 5, "i1")}}, Status: EntryActive})
	}
	for _, id := range []string{"did:web:issuer.example#key-1", "did:web:issuer.example/path", "did:web:issuer.example?versionId=1", "did:web:issuer.example:"} {
		before := maps.Clone(l.st.KV)
		if _, err := l.call(msp31, "PutIssuer", iss(id)); !errors.Is(err, ErrInvalid) {
			t.Errorf("issuer %q: %v, want invalid", id, err)
		}
		if !maps.EqualFunc(before, l.st.KV, bytes.Equal) {
			t.Errorf("issuer %q changed the state", id)
		}
	}
	l.must(t, msp31, "PutIssuer", iss("did:web:issuer.example:a"))
	l.must(t, msp31, "PutIssuer", iss("https://issuer.example/b#x"))
}

// TestRecordSizes pins the sizes MaxRegionBytes is argued from, as stored
// on Fabric (64-digit transaction IDs, times to the nanosecond): the
// records regions write take a few hundred bytes to a few KB, the
// largest a relying party and an issuer may be some 100 KB, and the
// quota holds 10,000 such relying parties beside 40,000 terminals.
func TestRecordSizes(t *testing.T) {
	l := consortium(t)
	write := func(fn, arg string) {
		t.Helper()
		l.seq++
		l.st.MSPID, l.st.ID, l.st.Now = msp31, fmt.Sprintf("%064x", l.seq), t0.Add(time.Duration(l.seq)*time.Second+123456789)
		if _, err := Invoke(l.st, fn, [][]byte{[]byte(arg)}); err != nil {
			t.Fatalf("%s: %v", fn, err)
		}
		l.st.Commit()
	}
	size := func(obj string, attrs ...string) int {
		k, _ := CompositeKey(obj, attrs...)
		return len(l.st.KV[k])
	}
	long := func(prefix string, i, n int) string {
		s := fmt.Sprintf("%s%d-", prefix, i)
		return s + strings.Repeat("x", n-len(s))
	}
	write("AddTerminal", js(t, Terminal{ID: "T-310104-0001", Kind: "counter", Name: "徐汇区行政服务中心 1号窗口", Location: "310104", Key: sm2JWK(t, 7, "t-310104-0001"), Status: EntryActive}))
	write("PutStatusHeads", js(t, []HeadInput{{List: "0123456789abcdef", Version: 123456, Digest: ListDigest([]byte("list"))}}))
	// An issuer that rotated its key yearly: four retired, one active.
	iss := Issuer{ID: "did:web:310000.trustid.example:issuers:fudan", Name: "复旦大学", Status: EntryActive,
		Types: []string{"UniversityDegreeCredential", "StudentCredential", "https://310000.trustid.example/vct/Transcript"}}
	for i := range 5 {
		iss.Keys = append(iss.Keys, RegistryKey{JWK: sm2JWK(t, byte(20+i), fmt.Sprintf("fudan-%d", 2026+i))})
		write("PutIssuer", js(t, iss))
		for _, s := range []string{KeyRetiring, KeyRetired} {
			if i < 4 {
				iss.Keys[i].State = s
				write("PutIssuer", js(t, iss))
			}
		}
	}
	// A relying party with two keys, rotated six times, and four
	// redirect URIs.
	rp := RelyingParty{ClientID: "bank-app", Name: "上海银行手机银行", SectorIdentifier: "bank.example.cn", Status: EntryActive,
		GrantTypes:             []string{GrantClientCredentials, GrantAuthorizationCode},
		RedirectURIs:           []string{"https://app.bank.example.cn/oidc/callback", "https://www.bank.example.cn/oidc/callback", "https://m.bank.example.cn/oidc/callback", "https://open.bank.example.cn/oidc/callback"},
		PostLogoutRedirectURIs: []string{"https://www.bank.example.cn/", "https://m.bank.example.cn/"},
		Scopes:                 []string{"openid", "qr:redeem", "presentation:request"},
		Claims:                 []string{"name", "birthdate", "age_over_18", "nationality", "resident_region", "document_type", "level"}}
	for i := range 7 {
		rp.JWKS.Keys = []gm.JWK{sm2JWK(t, byte(40+i), fmt.Sprintf("bank-%d", i)), sm2JWK(t, byte(41+i), fmt.Sprintf("bank-%d", i+1))}
		write("PutRelyingParty", js(t, rp))
	}
	// The largest relying party: 64 keys of 256-character kids in its
	// history, 16 current, 64 claims, 32 redirect and post-logout URIs
	// of 512 bytes, 8 resources of 512 bytes.
	big := RelyingParty{ClientID: "rp-largest", Name: strings.Repeat("名", 128), SectorIdentifier: strings.Repeat("a", 63) + ".example",
		GrantTypes: GrantTypes, Scopes: Scopes, Status: EntryActive}
	for i := range 64 {
		big.Claims = append(big.Claims, long("c", i, 128))
	}
	for i := range 32 {
		big.RedirectURIs = append(big.RedirectURIs, long(fmt.Sprintf("https://rp.example/%d/", i), i, 512))
		big.PostLogoutRedirectURIs = append(big.PostLogoutRedirectURIs, long(fmt.Sprintf("https://rp.example/l%d/", i), i, 512))
	}
	for i := range 8 {
		big.Resources = append(big.Resources, long(fmt.Sprintf("https://api.rp.example/%d/", i), i, 512))
	}
	for r := range 4 {
		big.JWKS.Keys = nil
		for i := range 16 {
			big.JWKS.Keys = append(big.JWKS.Keys, sm2JWK(t, byte(60+r*16+i), long("k", r*16+i, 256)))
		}
		write("PutRelyingParty", js(t, big))
	}
	// The largest issuer: 64 keys of 256-character kids, each revoked
	// after retiring, 64 credential types.
	bigIss := Issuer{ID: "did:web:310000.trustid.example:" + strings.Repeat("i", 200), Name: strings.Repeat("名", 128), Status: EntryActive}
	for i := range 64 {
		bigIss.Types = append(bigIss.Types, long("T", i, 128))
		bigIss.Keys = append(bigIss.Keys, RegistryKey{JWK: sm2JWK(t, byte(130+i), long("i", i, 256))})
	}
	write("PutIssuer", js(t, bigIss))
	for _, s := range []string{KeyRetiring, KeyRetired, KeyRevoked} {
		for i := range bigIss.Keys {
			bigIss.Keys[i].State = s
		}
		write("PutIssuer", js(t, bigIss))
	}

	for _, c := range []struct {
		what     string
		size     int
		min, max int
	}{
		{"a terminal", size(objTerminal, "T-310104-0001"), 300, 450},
		{"a status head", size(objHead, "310000", "0123456789abcdef"), 200, 300},
		{"an issuer with five keys", size(objIssuer, iss.ID), 2500, 3500},
		{"a relying party with eight keys", size(objRP, rp.ClientID), 4000, 5000},
		{"the largest relying party", size(objRP, big.ClientID), 100_000, 115_000},
		{"the largest issuer", size(objIssuer, bigIss.ID), 80_000, 90_000},
	} {
		t.Logf("%s: %d bytes", c.what, c.size)
		if c.size < c.min || c.size > c.max {
			t.Errorf("%s takes %d bytes, not %d to %d as MaxRegionBytes is argued from", c.what, c.size, c.min, c.max)
		}
	}
	if need := 10_000*size(objRP, rp.ClientID) + 40_000*size(objTerminal, "T-310104-0001"); need > MaxRegionBytes {
		t.Errorf("10,000 relying parties and 40,000 terminals take %d bytes, past MaxRegionBytes", need)
	}
}

// TestRelyingPartyResources: a relying party's resources (its APIs, RFC
// 8707) are at most 8 absolute https URLs (http on loopback) without
// user info, query or fragment, none repeated, none a region's DID or
// endpoint, and none another party's, of its region or another: a
// resource names one party's API, for which a node issues tokens that
// name it alone.
func TestRelyingPartyResources(t *testing.T) {
	l := consortium(t)
	rp := func(id string, resources ...string) RelyingParty {
		return RelyingParty{ClientID: id, JWKS: gm.JWKS{Keys: []gm.JWK{sm2JWK(t, 6, id+"-1")}}, Scopes: []string{"qr:redeem"},
			Status: EntryActive, Resources: resources}
	}
	eight := make([]string, 9)
	for i := range eight {
		eight[i] = fmt.Sprintf("https://api.example/%d", i)
	}
	for name, resources := range map[string][]string{
		"query":             {"https://api.example/v1?x=1"},
		"fragment":          {"https://api.example/v1#x"},
		"http":              {"http://api.example/v1"},
		"relative":          {"/v1"},
		"user info":         {"https://u@api.example/v1"},
		"repeated":          {"https://api.example/v1", "https://api.example/v1"},
		"more than 8":       eight,
		"longer than 512 B": {"https://api.example/" + strings.Repeat("x", 500)},
	} {
		if _, err := l.call(msp31, "AddRelyingParty", js(t, rp("rp-bad", resources...))); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	for _, name := range []string{"https://320000.trustid.example", "https://320000.TrustID.example:443/", "https://310000.trustid.example"} {
		if _, err := l.call(msp31, "AddRelyingParty", js(t, rp("rp-bad", name))); !errors.Is(err, ErrForbidden) {
			t.Errorf("a region's endpoint %s as a resource: %v, want ErrForbidden", name, err)
		}
	}
	l.must(t, msp31, "AddRelyingParty", js(t, rp("rp-b", "https://api.b.example", "http://127.0.0.1:8081/api")))
	if _, err := l.call(msp31, "AddRelyingParty", js(t, rp("rp-c", "https://api.b.example"))); !errors.Is(err, ErrInvalid) {
		t.Errorf("a party of the region registering another's resource: %v, want ErrInvalid", err)
	}
	// Spelled otherwise (the scheme's and host's case, the default port,
	// a trailing slash), a URL names the same API.
	for _, taken := range []string{"http://127.0.0.1:8081/api", "HTTP://127.0.0.1:8081/api/", "https://API.b.example:443/"} {
		if _, err := l.call(msp32, "AddRelyingParty", js(t, rp("rp-d", taken))); !errors.Is(err, ErrInvalid) {
			t.Errorf("a party of another region registering %s, taken: %v, want ErrInvalid", taken, err)
		}
	}
	// The holder writes its record again, naming its resources otherwise.
	l.must(t, msp31, "PutRelyingParty", js(t, rp("rp-b", "https://api.b.example/", "http://127.0.0.1:8081/api")))
	// A party that drops a resource frees it, for a party of any region.
	l.must(t, msp31, "PutRelyingParty", js(t, rp("rp-b", "https://api.b.example")))
	l.must(t, msp32, "AddRelyingParty", js(t, rp("rp-d", "http://127.0.0.1:8081/api")))
	var got RelyingParty
	if err := json.Unmarshal(l.must(t, "", "GetRelyingParty", "rp-d"), &got); err != nil || !slices.Equal(got.Resources, []string{"http://127.0.0.1:8081/api"}) {
		t.Errorf("stored resources %q (%v)", got.Resources, err)
	}
	if _, err := l.call(msp31, "PutRelyingParty", js(t, rp("rp-b", "https://api.b.example", "http://127.0.0.1:8081/api"))); !errors.Is(err, ErrInvalid) {
		t.Errorf("a party taking back a resource it dropped, now another's: %v, want ErrInvalid", err)
	}
}

// TestSuspendedPartyFreesItsResources: a suspended relying party (a
// disabled client, whose APIs the token endpoint no longer serves)
// frees its resources, for a party of any region; its record keeps
// them, and enabling it again claims them, refused while another party
// holds one or a region names one. A region cannot name an active
// party's resource as its endpoint; it can once the party is suspended.
func TestSuspendedPartyFreesItsResources(t *testing.T) {
	l := consortium(t)
	rp := func(id, status string, resources ...string) string {
		return js(t, RelyingParty{ClientID: id, JWKS: gm.JWKS{Keys: []gm.JWK{sm2JWK(t, 6, id+"-1")}}, Scopes: []string{"qr:redeem"},
			Status: status, Resources: resources})
	}
	const api, other, third = "https://api.a.example/v1", "https://api.a.example/v2", "https://api.c.example/v3"
	l.must(t, msp31, "AddRelyingParty", rp("rp-a", EntryActive, api, other))
	region := js(t, RegionInput{Code: "320000", DID: "did:web:320000.trustid.example", Name: "node 320000",
		Endpoints: []Endpoint{{Type: "api", URL: "https://320000.trustid.example"}, {Type: "web", URL: other}}})
	// Found by review: a region naming an active party's API took the
	// tokens asked for it as its own (the token endpoint takes a region's
	// name as the region's).
	if _, err := l.call(msp32, "UpdateRegion", region); !errors.Is(err, ErrInvalid) {
		t.Errorf("a region naming an active party's API: %v, want ErrInvalid", err)
	}
	l.must(t, msp31, "PutRelyingParty", rp("rp-a", EntrySuspended, api, other))
	var got RelyingParty
	if err := json.Unmarshal(l.must(t, "", "GetRelyingParty", "rp-a"), &got); err != nil || got.Status != EntrySuspended || !slices.Equal(got.Resources, []string{api, other}) {
		t.Errorf("the suspended party's record: %s, resources %q (%v)", got.Status, got.Resources, err)
	}
	l.must(t, msp32, "UpdateRegion", region) // the suspension freed it
	l.must(t, msp32, "AddRelyingParty", rp("rp-b", EntryActive, api))
	if _, err := l.call(msp31, "PutRelyingParty", rp("rp-a", EntryActive, api, third)); !errors.Is(err, ErrInvalid) {
		t.Errorf("enabling a party whose resource another took: %v, want ErrInvalid", err)
	}
	if _, err := l.call(msp31, "PutRelyingParty", rp("rp-a", EntryActive, other, third)); !errors.Is(err, ErrForbidden) {
		t.Errorf("enabling a party whose resource a region took: %v, want ErrForbidden", err)
	}
	l.must(t, msp31, "PutRelyingParty", rp("rp-a", EntryActive, third))
	if _, err := l.call(msp32, "PutRelyingParty", rp("rp-b", EntryActive, api, third)); !errors.Is(err, ErrInvalid) {
		t.Errorf("a resource of the party enabled again: %v, want ErrInvalid", err)
	}
}

// TestResourceTakenSince (SECURITY.md gap 27): the claim of a resource,
// and the record of the party that holds it, carry the time of the
// transaction that took it while no party held it; the party keeps it
// while it holds the resource (its record rewritten, the resource in
// another spelling), another party that takes the resource takes it at
// its own transaction's time, and a party that takes its resource back
// (enabled again) takes it anew; a suspended party's record holds none,
// and the input's times are not taken. A claim an older contract wrote,
// without a time, gives none.
func TestResourceTakenSince(t *testing.T) {
	l := consortium(t)
	const api = "https://api.a.example/v1"
	var at time.Time // the time of write's transaction
	write := func(msp, fn, id, status string, resources ...string) RelyingParty {
		t.Helper()
		in := RelyingParty{ClientID: id, JWKS: gm.JWKS{Keys: []gm.JWK{sm2JWK(t, 6, id+"-1")}}, Scopes: []string{"qr:redeem"},
			Status: status, Resources: resources, ResourcesSince: []time.Time{t0}}
		var out RelyingParty
		if err := json.Unmarshal(l.must(t, msp, fn, js(t, in)), &out); err != nil {
			t.Fatal(err)
		}
		at = l.st.Now
		var stored RelyingParty
		if err := json.Unmarshal(l.must(t, "", "GetRelyingParty", id), &stored); err != nil || !slices.EqualFunc(stored.ResourcesSince, out.ResourcesSince, time.Time.Equal) {
			t.Errorf("%s stored: %v %v; answered %v", id, stored.ResourcesSince, err, out.ResourcesSince)
		}
		return out
	}
	claimSince := func() time.Time {
		t.Helper()
		var cl Claim
		if k, _ := CompositeKey(objClaim, claimResource, api); json.Unmarshal(l.st.KV[k], &cl) != nil || cl.Party == "" {
			t.Fatalf("no claim of %s", api)
		}
		return cl.Since
	}

	a := write(msp31, "AddRelyingParty", "rp-a", EntryActive, api)
	took := at
	if len(a.ResourcesSince) != 1 || !a.ResourcesSince[0].Equal(took) || !claimSince().Equal(took) {
		t.Errorf("rp-a took %s: since %v, claim %v; want %v", api, a.ResourcesSince, claimSince(), took)
	}
	if a := write(msp31, "PutRelyingParty", "rp-a", EntryActive, "https://a.example/v0", "https://API.a.example:443/v1"); len(a.ResourcesSince) != 2 ||
		!a.ResourcesSince[0].Equal(at) || !a.ResourcesSince[1].Equal(took) {
		t.Errorf("rp-a rewritten, its resource in another spelling after a new one: since %v; want [%v %v]", a.ResourcesSince, at, took)
	}
	if a := write(msp31, "PutRelyingParty", "rp-a", EntryActive); a.ResourcesSince != nil {
		t.Errorf("rp-a without resources: since %v", a.ResourcesSince)
	}
	b := write(msp32, "AddRelyingParty", "rp-b", EntryActive, api)
	if took = at; len(b.ResourcesSince) != 1 || !b.ResourcesSince[0].Equal(took) || !claimSince().Equal(took) {
		t.Errorf("rp-b took the resource rp-a dropped: since %v, claim %v; want %v", b.ResourcesSince, claimSince(), took)
	}
	if b := write(msp32, "PutRelyingParty", "rp-b", EntrySuspended, api); b.ResourcesSince != nil {
		t.Errorf("rp-b suspended: since %v", b.ResourcesSince)
	}
	if b := write(msp32, "PutRelyingParty", "rp-b", EntryActive, api); len(b.ResourcesSince) != 1 || !b.ResourcesSince[0].Equal(at) || !at.After(took) {
		t.Errorf("rp-b enabled again: since %v; want %v", b.ResourcesSince, at)
	}
	// A claim an older contract wrote has no time.
	k, _ := CompositeKey(objClaim, claimResource, api)
	l.st.KV[k] = []byte(`{"region":"320000","party":"rp-b"}`)
	if b := write(msp32, "PutRelyingParty", "rp-b", EntryActive, api); b.ResourcesSince != nil || !claimSince().IsZero() {
		t.Errorf("rp-b holding a claim without time: since %v, claim %v; want none", b.ResourcesSince, claimSince())
	}
}

// TestRelyingPartyWritesReadNoOtherParty: a relying party's write reads
// the claims of its resources (point reads, as many as it names), never
// another party's record nor a range of keys: it listed every party of
// every region (up to 114 KB each) on every party's write, and on Fabric
// that range read failed at commit (PHANTOM_READ_CONFLICT) whenever any
// party of any region changed meanwhile.
func TestRelyingPartyWritesReadNoOtherParty(t *testing.T) {
	l := consortium(t)
	rp := func(id, status string, resources ...string) string {
		return js(t, RelyingParty{ClientID: id, JWKS: gm.JWKS{Keys: []gm.JWK{sm2JWK(t, 6, id+"-1")}}, Scopes: []string{"qr:redeem"},
			Status: status, Resources: resources})
	}
	for i := range 20 {
		l.must(t, []string{msp31, msp32}[i%2], "AddRelyingParty", rp(fmt.Sprintf("rp-%d", i), EntryActive, fmt.Sprintf("https://api.example/%d", i)))
	}
	own, _ := CompositeKey(objRP, "rp-x")
	rpKeys, _, _ := PrefixRange(objRP, nil)
	for _, w := range []struct{ name, arg string }{
		{"AddRelyingParty", rp("rp-x", EntryActive, "https://x.example/a", "https://x.example/b")},
		{"PutRelyingParty", rp("rp-x", EntryActive, "https://x.example/b", "https://x.example/c")},
		{"PutRelyingParty", rp("rp-x", EntrySuspended, "https://x.example/b", "https://x.example/c")},
	} {
		l.seq++
		l.st.MSPID, l.st.ID = msp31, fmt.Sprintf("tx%03d", l.seq)
		rl := &readLog{MemState: l.st}
		if _, err := Invoke(rl, w.name, [][]byte{[]byte(w.arg)}); err != nil {
			t.Fatalf("%s: %v", w.name, err)
		}
		l.st.Commit()
		for _, k := range rl.gets {
			if strings.HasPrefix(k, rpKeys) && k != own {
				t.Errorf("%s read another party's record %q", w.name, k)
			}
		}
		// The record (twice), the consortium, its region, the quota, the
		// claims' mark, and for each resource claimed its claims as a
		// resource, as an ID and of its host (and the claim of the one
		// it replaces): at most 12 here.
		if len(rl.scans) != 0 || len(rl.gets) > 12 {
			t.Errorf("%s scanned %q and read %d keys %q", w.name, rl.scans, len(rl.gets), rl.gets)
		}
	}
}

// partyInput is a relying party's input with one key and the scope
// qr:redeem, of status and resources.
func partyInput(t *testing.T, id, status string, resources ...string) string {
	return js(t, RelyingParty{ClientID: id, JWKS: gm.JWKS{Keys: []gm.JWK{sm2JWK(t, 6, id+"-1")}}, Scopes: []string{"qr:redeem"},
		Status: status, Resources: resources})
}

// TestResourceOnAnotherRegionsHost: a relying party's resource on a host
// another region claims (a host of its record, or of one of its issuer
// records, IDHost's spelling) is that region's: the party's region may
// not claim it (forbidden, nothing written); its own region's parties
// may, and another port is another host. A resource whose host IDHost
// cannot read is invalid. In the other order a region (or its issuer)
// may take a host on which another region's party holds a resource: the
// party keeps it while it holds it, but claims no new resource there,
// nor that one again once it let it go.
func TestResourceOnAnotherRegionsHost(t *testing.T) {
	l := consortium(t)
	l.must(t, msp31, "PutIssuer", js(t, Issuer{ID: "did:web:university.example:a", Types: []string{"ResidenceCredential"},
		Keys: []RegistryKey{{JWK: sm2JWK(t, 5, "iss-1")}}, Status: EntryActive}))
	for _, res := range []string{
		"https://310000.trustid.example/shop",
		"https://310000.TrustID.example.:0443/shop/",
		"https://university.example/api",
		"https://UNIVERSITY.example:443/api",
	} {
		_, err := l.call(msp32, "AddRelyingParty", partyInput(t, "rp-32", EntryActive, "https://api.shop.example/v1", res))
		if !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), "resource 1 is on host") || !strings.Contains(err.Error(), "of region 310000") {
			t.Errorf("320000's party took %s, on 310000's host: %v", res, err)
		}
	}
	if _, err := l.call("", "GetRelyingParty", "rp-32"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a refused party was written: %v", err)
	}
	for _, res := range []string{"https://ünï.example/api", "https://api.example:70000/x"} {
		if _, err := l.call(msp32, "AddRelyingParty", partyInput(t, "rp-32", EntryActive, res)); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "want an ASCII host") {
			t.Errorf("a resource whose host IDHost cannot read, %s: %v, want ErrInvalid", res, err)
		}
	}
	// Another port is another host; the update path is checked as the add.
	l.must(t, msp32, "AddRelyingParty", partyInput(t, "rp-32", EntryActive, "https://api.shop.example/v1", "https://310000.trustid.example:8443/shop"))
	if _, err := l.call(msp32, "PutRelyingParty", partyInput(t, "rp-32", EntryActive, "https://api.shop.example/v1", "https://university.example/api")); !errors.Is(err, ErrForbidden) {
		t.Errorf("320000's party updated to a resource on 310000's issuer's host: %v", err)
	}
	var got RelyingParty
	if err := json.Unmarshal(l.must(t, "", "GetRelyingParty", "rp-32"), &got); err != nil || got.Version != 1 {
		t.Errorf("the refused update changed the party: version %d (%v)", got.Version, err)
	}
	// The host's region's own parties.
	l.must(t, msp31, "AddRelyingParty", partyInput(t, "rp-31", EntryActive, "https://310000.trustid.example/shop", "https://university.example/api"))

	// The other order: a region, then an issuer, take hosts on which a
	// party of another region holds resources.
	const shop, pay = "https://shop.example/api", "https://pay.example/api"
	l.must(t, msp31, "AddRelyingParty", partyInput(t, "rp-shop", EntryActive, shop, pay))
	l.must(t, msp32, "UpdateRegion", js(t, RegionInput{Code: "320000", DID: "did:web:320000.trustid.example", Name: "node 320000",
		Endpoints: []Endpoint{{Type: "api", URL: "https://320000.trustid.example"}, {Type: "web", URL: "https://shop.example"}}}))
	l.must(t, msp32, "PutIssuer", js(t, Issuer{ID: "did:web:pay.example", Types: []string{"ResidenceCredential"},
		Keys: []RegistryKey{{JWK: sm2JWK(t, 5, "iss-1")}}, Status: EntryActive}))
	l.must(t, msp31, "PutRelyingParty", partyInput(t, "rp-shop", EntryActive, shop, pay)) // kept
	for _, res := range []string{"https://shop.example/api2", "https://pay.example/api2"} {
		if _, err := l.call(msp31, "PutRelyingParty", partyInput(t, "rp-shop", EntryActive, shop, pay, res)); !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), "of region 320000") {
			t.Errorf("a new resource %s on a host 320000 took since: %v", res, err)
		}
	}
	l.must(t, msp31, "PutRelyingParty", partyInput(t, "rp-shop", EntrySuspended, shop, pay))
	if _, err := l.call(msp31, "PutRelyingParty", partyInput(t, "rp-shop", EntryActive, shop, pay)); !errors.Is(err, ErrForbidden) {
		t.Errorf("enabling a party whose resources are on hosts 320000 took since: %v", err)
	}
	l.must(t, msp31, "PutRelyingParty", partyInput(t, "rp-shop", EntryActive))
	l.must(t, msp32, "PutRelyingParty", partyInput(t, "rp-32", EntryActive, shop, pay))
}

// TestRegionAndPartyNameInEveryOrder: a region's DID or endpoint URL and
// an active relying party's resource are never one (as claimKeyID spells
// them), whichever is written first, by a request for admission, a
// region's update, a party's add or update, or a party's enabling; a
// region's name stays its whatever its status, and a region that drops
// a name, or a party that drops a resource, frees it for the other.
func TestRegionAndPartyNameInEveryOrder(t *testing.T) {
	l := consortium(t)
	regionWith := func(code string, urls ...string) RegionInput {
		in := RegionInput{Code: code, DID: "did:web:" + code + ".trustid.example", Name: "node " + code,
			Endpoints: []Endpoint{{Type: "api", URL: "https://" + code + ".trustid.example"}}}
		for _, u := range urls {
			in.Endpoints = append(in.Endpoints, Endpoint{Type: "web", URL: u})
		}
		return in
	}
	// The party first: a request for admission and an update are refused,
	// nothing written.
	const api = "https://api.a.example/v1"
	l.must(t, msp31, "AddRelyingParty", partyInput(t, "rp-a", EntryActive, api))
	req := regionWith("440000", "https://API.a.example:443/v1/")
	req.Keys = []gm.JWK{sm2JWK(t, 4, "440000-k1")}
	if _, err := l.call(msp44, "RequestRegion", js(t, req)); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `relying party "rp-a"`) {
		t.Errorf("a request for admission naming an active party's API: %v, want ErrInvalid", err)
	}
	if _, err := l.call("", "GetRegion", "440000"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a refused request was written: %v", err)
	}
	if _, err := l.call(msp32, "UpdateRegion", js(t, regionWith("320000", "HTTPS://api.a.example/v1"))); !errors.Is(err, ErrInvalid) {
		t.Errorf("an update naming an active party's API: %v, want ErrInvalid", err)
	}
	if r := region(t, l, "320000"); len(r.Endpoints) != 1 {
		t.Errorf("a refused update changed the region: %v", r.Endpoints)
	}

	// The region first: a party's add, update and enabling are refused,
	// whether the region is pending, active or suspended.
	const web, pending = "https://320000.trustid.example/web", "https://440000.trustid.example/web"
	l.must(t, msp32, "UpdateRegion", js(t, regionWith("320000", web)))
	req = regionWith("440000", pending)
	req.Keys = []gm.JWK{sm2JWK(t, 4, "440000-k1")}
	l.must(t, msp44, "RequestRegion", js(t, req))
	l.must(t, msp32, "AddRelyingParty", partyInput(t, "rp-b", EntryActive))
	l.must(t, msp32, "AddRelyingParty", partyInput(t, "rp-c", EntrySuspended, "https://320000.trustid.example/c"))
	for _, w := range []struct{ what, fn, in, region string }{
		{"an add", "AddRelyingParty", partyInput(t, "rp-d", EntryActive, "https://320000.TrustID.example/web/"), "320000"},
		{"an update", "PutRelyingParty", partyInput(t, "rp-b", EntryActive, web), "320000"},
		{"an enabling", "PutRelyingParty", partyInput(t, "rp-c", EntryActive, "https://320000.trustid.example/c", web), "320000"},
		{"an add", "AddRelyingParty", partyInput(t, "rp-e", EntryActive, pending), "440000"},
	} {
		if _, err := l.call(msp32, w.fn, w.in); !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), "endpoint of region "+w.region) {
			t.Errorf("%s naming region %s's endpoint: %v, want ErrForbidden", w.what, w.region, err)
		}
	}
	var got RelyingParty
	if err := json.Unmarshal(l.must(t, "", "GetRelyingParty", "rp-c"), &got); err != nil || got.Status != EntrySuspended {
		t.Errorf("the refused enabling changed the party: %s (%v)", got.Status, err)
	}

	// A name dropped is free for the other, and then held by it.
	l.must(t, msp32, "UpdateRegion", js(t, regionWith("320000")))
	l.must(t, msp32, "PutRelyingParty", partyInput(t, "rp-b", EntryActive, web))
	if _, err := l.call(msp32, "UpdateRegion", js(t, regionWith("320000", web))); !errors.Is(err, ErrInvalid) {
		t.Errorf("the region naming again what a party took since: %v, want ErrInvalid", err)
	}
	l.must(t, msp32, "PutRelyingParty", partyInput(t, "rp-b", EntryActive))
	l.must(t, msp32, "UpdateRegion", js(t, regionWith("320000", web)))

	// A suspended region's names stay its own.
	l.must(t, msp31, "Vote", ActionSuspend, "320000")
	if _, err := l.call(msp31, "AddRelyingParty", partyInput(t, "rp-f", EntryActive, web)); !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), "endpoint of region 320000") {
		t.Errorf("a party naming a suspended region's endpoint: %v, want ErrForbidden", err)
	}
}

// olderChainSharedID returns a ledger as an even older contract left
// it, with 310000's issuer whose ID is the endpoint URL shared, also
// named by the records of the regions named, and no claims stored (the
// first write stores them, indexClaims).
func olderChainSharedID(t *testing.T, shared string, named ...string) *ledger {
	t.Helper()
	l := consortium(t)
	for _, code := range named {
		var r Region
		k, _ := CompositeKey(objRegion, code)
		if err := json.Unmarshal(l.st.KV[k], &r); err != nil {
			t.Fatal(err)
		}
		r.Endpoints = append(r.Endpoints, Endpoint{Type: "web", URL: shared})
		l.st.KV[k] = []byte(js(t, r))
	}
	ik, _ := CompositeKey(objIssuer, shared)
	l.st.KV[ik] = []byte(js(t, Issuer{ID: shared, Region: "310000", Types: []string{"ResidenceCredential"}, Status: EntryActive,
		Keys: []RegistryKey{{Kid: "iss-1", Alg: gm.AlgSM2, JWK: sm2JWK(t, 5, "iss-1"), State: KeyActive}}}))
	start, end, _ := PrefixRange(objClaim, nil)
	for k := range l.st.KV {
		if k >= start && k < end {
			delete(l.st.KV, k)
		}
	}
	return l
}

// TestResourceNamedByASharedClaim: on a chain an even older contract
// wrote, the claim of an identifier may be held by an issuer of one
// region whose record dropped it while another region's record still
// names it (Claim.Also): a relying party's resource may not be that
// identifier either, the token endpoint taking it as the other region's,
// nor another path on that host, which the other region shares.
func TestResourceNamedByASharedClaim(t *testing.T) {
	const shared = "https://shared.example/node"
	l := olderChainSharedID(t, shared, "310000", "320000")
	// 310000's record drops it: its issuer holds the claim, 320000's
	// record shares it.
	l.must(t, msp31, "UpdateRegion", js(t, RegionInput{Code: "310000", DID: "did:web:310000.trustid.example", Name: "node 310000",
		Endpoints: []Endpoint{{Type: "api", URL: "https://310000.trustid.example"}}}))
	_, err := l.call(msp31, "AddRelyingParty", partyInput(t, "rp-a", EntryActive, shared))
	if !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), "endpoint of region 320000") {
		t.Errorf("a resource 320000's record names: %v, want ErrForbidden", err)
	}
	// Another path on that host: 320000's record shares the host too.
	_, err = l.call(msp31, "AddRelyingParty", partyInput(t, "rp-a", EntryActive, "https://shared.example/another-api"))
	if !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), "host shared.example of region 320000") {
		t.Errorf("a resource on the host 320000's record shares: %v, want ErrForbidden", err)
	}
}

// TestIssuerIDNamedByASharedClaim: on such a chain, an issuer may not
// take an ID any region's record names, as a party's resource may not,
// even where the claim's holder is the caller's issuer whose region's
// record dropped it (another spelling of its ID is another issuer
// record); the issuer whose ID it is stays its region's to update (to
// suspend it, or rotate its keys), whichever region holds the claim.
func TestIssuerIDNamedByASharedClaim(t *testing.T) {
	const shared = "https://shared.example/node"
	issuer := func(id, status string) string {
		return js(t, Issuer{ID: id, Types: []string{"ResidenceCredential"}, Status: status,
			Keys: []RegistryKey{{JWK: sm2JWK(t, 5, "iss-1")}}})
	}
	l := olderChainSharedID(t, shared, "310000", "320000")
	// 310000's issuer holds the claim, 320000's record shares it.
	l.must(t, msp31, "UpdateRegion", js(t, RegionInput{Code: "310000", DID: "did:web:310000.trustid.example", Name: "node 310000",
		Endpoints: []Endpoint{{Type: "api", URL: "https://310000.trustid.example"}}}))
	_, err := l.call(msp31, "PutIssuer", issuer("https://SHARED.example/node/", EntryActive))
	if !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), "endpoint of region 320000") {
		t.Errorf("a new issuer whose ID 320000's record names: %v, want ErrForbidden", err)
	}
	if k, _ := CompositeKey(objIssuer, "https://SHARED.example/node/"); l.st.KV[k] != nil {
		t.Error("the refused issuer was written")
	}
	l.must(t, msp31, "PutIssuer", issuer(shared, EntrySuspended))

	// 320000's record holds the claim, 310000's issuer shares it.
	l = olderChainSharedID(t, shared, "320000")
	l.must(t, msp31, "PutIssuer", issuer(shared, EntrySuspended))
	if _, err := l.call(msp32, "PutIssuer", issuer(shared, EntryActive)); !errors.Is(err, ErrForbidden) {
		t.Errorf("320000 writing 310000's issuer: %v, want ErrForbidden", err)
	}
}
