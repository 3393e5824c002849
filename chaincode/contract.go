package chaincode

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/b64url"
)

// Event names. Payloads are JSON: RegistryEvent, Batch, HeadsEvent,
// AuditAnchor.
const (
	EventRegistry    = "trustid.registry"
	EventStatusBatch = "trustid.status.batch"
	EventStatusHeads = "trustid.status.heads"
	EventAudit       = "trustid.audit"
)

// RegistryEvent says which registry entry changed.
type RegistryEvent struct {
	Kind   string `json:"kind"` // region, proposal, issuer, relying_party, terminal
	ID     string `json:"id"`
	Region string `json:"region"`
	Action string `json:"action"` // e.g. requested, admitted, voted, updated, key_added
}

// HeadsEvent lists the status heads a transaction wrote.
type HeadsEvent struct {
	Region string       `json:"region"`
	Heads  []StatusHead `json:"heads"`
}

// BatchResult is what AnchorBatch returns: the anchored batch and whether
// it was already anchored (a replay, written nothing).
type BatchResult struct {
	Batch    Batch `json:"batch"`
	Replayed bool  `json:"replayed"`
	// Block is the number of the block that committed the batch, filled
	// by the ledger client (not the contract's answer); 0 when not known.
	Block uint64 `json:"-"`
}

// BatchInput is AnchorBatch's argument; the region is the caller's.
type BatchInput struct {
	ID      string   `json:"id"`
	Root    string   `json:"root"`
	Count   int      `json:"count"`
	Lists   []string `json:"lists"`
	Changes string   `json:"changes"`
}

// NewBatchInput packs changes into the argument of AnchorBatch.
func NewBatchInput(id string, changes []StatusChange) (BatchInput, error) {
	root, err := MerkleRoot(changes)
	if err != nil {
		return BatchInput{}, err
	}
	lists, packed := EncodeChanges(changes)
	return BatchInput{ID: id, Root: hex.EncodeToString(root[:]), Count: len(changes), Lists: lists,
		Changes: base64.RawURLEncoding.EncodeToString(packed)}, nil
}

// DecodeBatch returns a batch's changes, checking them against its root.
func DecodeBatch(b Batch) ([]StatusChange, error) {
	packed, err := b64url.DecodeString(b.Changes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadEncoding, err)
	}
	changes, err := DecodeChanges(b.Lists, packed, b.Count)
	if err != nil {
		return nil, err
	}
	root, _ := MerkleRoot(changes)
	if hex.EncodeToString(root[:]) != b.Root {
		return nil, fmt.Errorf("%w: batch %q", ErrProof, b.ID)
	}
	return changes, nil
}

// HeadInput is one element of PutStatusHeads' argument.
type HeadInput struct {
	List    string `json:"list"`
	Version uint64 `json:"version"`
	Digest  string `json:"digest"`
}

// AuditInput is AnchorAudit's argument. Pruned, when set, records that
// the node is about to delete the sealed segments of its log through
// Pruned.Seq (AuditAnchor.Pruned); it is sent with the head already
// anchored or a later one.
type AuditInput struct {
	Node   string     `json:"node"`
	Seq    uint64     `json:"seq"`
	Head   string     `json:"head"`
	Pruned AuditPrune `json:"pruned,omitzero"`
}

// Object types of the composite keys.
const (
	objRegion   = "region"
	objMembers  = "consortium"
	objProposal = "proposal"
	objIssuer   = "issuer"
	objRP       = "rp"
	objSector   = "sector"
	objTerminal = "terminal"
	objHead     = "statushead"
	objBatch    = "batch"
	objAudit    = "audit"
	objClaim    = "claim"
	objQuota    = "quota"
)

// MaxHeads bounds PutStatusHeads.
const MaxHeads = 1000

// MaxRegionRecords bounds the records a region adds: issuers, relying
// parties, terminals and status heads together, which every node's View
// keeps in memory. Past it an addition is refused with ErrQuota; updates
// of the region's records go on. Records written by a contract older
// than the count (quota) are not counted.
const MaxRegionRecords = 50_000

// MaxRegionBytes bounds the bytes the records a region adds take, as
// stored (their JSON), since a record's size varies some 300-fold: a
// status head takes about 250 bytes, a terminal 400, an issuer with five
// keys (four of them retired) 3.2 KB, a relying party with eight keys
// (six retired) and four redirect URIs 4.8 KB, but the largest relying
// party 114 KB and the largest issuer 89 KB (TestRecordSizes). 64 MiB is
// the whole count of records at 1.3 KB on average, as many relying
// parties of 4.8 KB as 10,000 beside 40,000 terminals and heads, while
// 50,000 of the largest took 5.5 GB of every node's memory.
//
// An addition, or an update that grows a record, is refused past it
// with ErrQuota, except an update that only withdraws trust (withdraws:
// an entry suspended or revoked, keys moved on), which is counted but
// never refused, so that a region at its quota can still suspend what
// was compromised. An update that shrinks a record gives its bytes back.
// A status head is counted at its size when added: its new versions (a
// few digits more at most) are neither counted nor refused, so that no
// revocation waits for the quota, and they write no quota key.
const MaxRegionBytes = 64 << 20

// quota counts the records a region added (MaxRegionRecords) and the
// bytes they take (MaxRegionBytes), under a key of the region's own
// (quota/<code>), which only its own additions and the updates of its
// records write. A quota written before the bytes were counted holds
// none.
type quota struct {
	Records int   `json:"records"`
	Bytes   int64 `json:"bytes"`
}

// count adds records new records, and grown bytes (negative: shrunk) of
// the caller's records, to its quota. It refuses with ErrQuota records
// past MaxRegionRecords, and growth past MaxRegionBytes unless the write
// withdraws trust only (see MaxRegionBytes). The count of bytes never
// falls below zero (records an older contract wrote, shrunk, give back
// bytes that were never counted).
func (c *call) count(records int, grown int64, withdraws bool) error {
	if records == 0 && grown == 0 {
		return nil
	}
	var q quota
	if err := c.load(&q, objQuota, c.caller); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	if records > 0 && q.Records+records > MaxRegionRecords {
		return fmt.Errorf("%w: region %s has added %d records (issuers, relying parties, terminals and status heads); %d more would pass its quota of %d",
			ErrQuota, c.caller, q.Records, records, MaxRegionRecords)
	}
	if grown > 0 && !withdraws && q.Bytes+grown > MaxRegionBytes {
		return fmt.Errorf("%w: the records region %s added take %d bytes (issuers, relying parties, terminals and status heads); %d more would pass its quota of %d bytes",
			ErrQuota, c.caller, q.Bytes, grown, MaxRegionBytes)
	}
	q.Records += records
	q.Bytes = max(q.Bytes+grown, 0)
	return c.save(q, objQuota, c.caller)
}

type call struct {
	st       State
	args     [][]byte
	caller   string // region code, "" if the caller names none
	now      time.Time
	readOnly bool
	// indexed: the claims are stored (indexClaims).
	indexed bool
	// claims holds the claims this transaction wrote (the zero Claim: a
	// deleted one): its reads do not see its own writes (as on Fabric),
	// and a transaction may write one claim twice (indexClaims).
	claims map[[2]string]Claim
}

type function struct {
	nargs    int
	readOnly bool
	fn       func(*call) (any, error)
}

var functions = map[string]function{
	"RequestRegion":          {1, false, requestRegion},
	"Vote":                   {2, false, vote},
	"UpdateRegion":           {1, false, updateRegion},
	"AddRegionKey":           {1, false, addRegionKey},
	"SetRegionKeyState":      {2, false, setRegionKeyState},
	"GetRegion":              {1, true, getRegion},
	"ListRegions":            {0, true, listRegions},
	"ListRegionsPage":        {1, true, listRegionsPage},
	"GetProposal":            {2, true, getProposal},
	"ListProposals":          {0, true, listProposals},
	"PutIssuer":              {1, false, putIssuer},
	"GetIssuer":              {1, true, getIssuer},
	"ListIssuers":            {0, true, listIssuers},
	"ListIssuersPage":        {1, true, func(c *call) (any, error) { return listPage[Issuer](c, c.arg(0), objIssuer) }},
	"AddRelyingParty":        {1, false, addRP},
	"PutRelyingParty":        {1, false, putRP},
	"GetRelyingParty":        {1, true, getRP},
	"ListRelyingParties":     {0, true, listRPs},
	"ListRelyingPartiesPage": {1, true, func(c *call) (any, error) { return listPage[RelyingParty](c, c.arg(0), objRP) }},
	"ClaimSector":            {1, false, claimSector},
	"GetSector":              {2, true, getSector},
	"AddTerminal":            {1, false, addTerminal},
	"PutTerminal":            {1, false, putTerminal},
	"GetTerminal":            {1, true, getTerminal},
	"ListTerminals":          {0, true, listTerminals},
	"ListTerminalsPage":      {1, true, func(c *call) (any, error) { return listPage[Terminal](c, c.arg(0), objTerminal) }},
	"AnchorBatch":            {1, false, anchorBatch},
	"GetBatch":               {2, true, getBatch},
	"PutStatusHeads":         {1, false, putStatusHeads},
	"GetStatusHead":          {2, true, getStatusHead},
	"ListStatusHeads":        {1, true, listStatusHeads},
	"ListStatusHeadsPage":    {2, true, func(c *call) (any, error) { return listPage[StatusHead](c, c.arg(1), objHead, c.arg(0)) }},
	"AnchorAudit":            {1, false, anchorAudit},
	"GetAuditAnchor":         {2, true, getAuditAnchor},
	"ListAuditAnchors":       {1, true, listAuditAnchors},
	"ListAuditAnchorsPage":   {2, true, func(c *call) (any, error) { return listPage[AuditAnchor](c, c.arg(1), objAudit, c.arg(0)) }},
	"BindCredentialIDs":      {1, false, bindCredentialIDs},
	"GetCredentialBinding":   {2, true, getCredentialBinding},
}

// ReadOnly reports whether fn is a query that writes nothing.
func ReadOnly(fn string) bool {
	f, ok := functions[fn]
	return ok && f.readOnly
}

// Functions returns the names of the contract's functions.
func Functions() []string {
	names := make([]string, 0, len(functions))
	for n := range functions {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Invoke runs function fn with args over st and returns its JSON result.
// On error the caller must discard every write the call made (Fabric and
// the embedded ledger do).
func Invoke(st State, fn string, args [][]byte) ([]byte, error) {
	f, ok := functions[fn]
	if !ok {
		return nil, fmt.Errorf("%w: %.64q", ErrUnknownFunc, fn)
	}
	if len(args) != f.nargs {
		return nil, fmt.Errorf("%w: %s takes %d, got %d", ErrArgumentsCount, fn, f.nargs, len(args))
	}
	c := &call{st: st, args: args, readOnly: f.readOnly}
	var err error
	if c.now, err = st.Time(); err != nil {
		return nil, err
	}
	c.now = c.now.UTC()
	if !f.readOnly {
		msp, err := st.Caller()
		if err != nil {
			return nil, err
		}
		if c.caller, err = RegionOfMSP(msp); err != nil {
			return nil, err
		}
	}
	out, err := f.fn(c)
	if err != nil {
		return nil, err
	}
	return json.Marshal(out)
}

// --- storage helpers ---

func (c *call) load(v any, objectType string, attrs ...string) error {
	_, err := c.loadSized(v, objectType, attrs...)
	return err
}

// loadSized is load that also returns the stored record's size in bytes
// (the quota counts it).
func (c *call) loadSized(v any, objectType string, attrs ...string) (int, error) {
	k, err := CompositeKey(objectType, attrs...)
	if err != nil {
		return 0, invalid("%v", err)
	}
	b, err := c.st.Get(k)
	if err != nil {
		return 0, err
	}
	if b == nil {
		return 0, fmt.Errorf("%w: %s %v", ErrNotFound, objectType, attrs)
	}
	return len(b), json.Unmarshal(b, v)
}

func (c *call) exists(objectType string, attrs ...string) (bool, error) {
	k, err := CompositeKey(objectType, attrs...)
	if err != nil {
		return false, invalid("%v", err)
	}
	b, err := c.st.Get(k)
	return b != nil, err
}

func (c *call) save(v any, objectType string, attrs ...string) error {
	_, err := c.saveSized(v, objectType, attrs...)
	return err
}

// saveSized is save that also returns the stored record's size in bytes
// (the quota counts it).
func (c *call) saveSized(v any, objectType string, attrs ...string) (int, error) {
	k, err := CompositeKey(objectType, attrs...)
	if err != nil {
		return 0, invalid("%v", err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return 0, err
	}
	return len(b), c.st.Put(k, b)
}

func (c *call) del(objectType string, attrs ...string) error {
	k, err := CompositeKey(objectType, attrs...)
	if err != nil {
		return invalid("%v", err)
	}
	return c.st.Delete(k)
}

func list[T any](c *call, objectType string, attrs ...string) ([]T, error) {
	// Checked here, not by Scan: Fabric's stub refuses such a prefix with
	// an error of its own, which would reach the caller as internal.
	if _, err := CompositeKey(objectType, attrs...); err != nil {
		return nil, invalid("%v", err)
	}
	out := []T{}
	err := c.st.Scan(objectType, attrs, func(_ string, v []byte) error {
		var x T
		if err := json.Unmarshal(v, &x); err != nil {
			return err
		}
		out = append(out, x)
		return nil
	})
	return out, err
}

// PageSize bounds the records of a page of a List…Page function: 256
// records of at most about 114 KB (a relying party's largest,
// TestRecordSizes) make an answer of some 29 MB, well under the 100 MiB
// Fabric passes, however many records a region writes. (A List function
// answers with all its records at once.)
const PageSize = 256

// Page is the answer of a List…Page function: up to PageSize records,
// and the bookmark to ask for the next page with, "" after the last.
type Page[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next,omitempty"`
}

// listPage reads a page of the records of objectType with attrs from
// bookmark on ("" for the first page; else a Page.Next of this list).
func listPage[T any](c *call, bookmark, objectType string, attrs ...string) (Page[T], error) {
	start, end, err := PrefixRange(objectType, attrs)
	if err != nil {
		return Page[T]{}, invalid("%v", err)
	}
	if bookmark != "" && (bookmark < start || bookmark >= end || !utf8.ValidString(bookmark)) {
		return Page[T]{}, invalid("bookmark %.64q is not one of this list's", bookmark)
	}
	p := Page[T]{Items: []T{}}
	p.Next, err = c.st.ScanPage(objectType, attrs, bookmark, PageSize, func(_ string, v []byte) error {
		var x T
		if err := json.Unmarshal(v, &x); err != nil {
			return err
		}
		p.Items = append(p.Items, x)
		return nil
	})
	return p, err
}

func (c *call) emit(name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.st.Emit(name, b)
}

func (c *call) arg(i int) string { return string(c.args[i]) }

// activeCaller returns the caller's region record, which must be active.
func (c *call) activeCaller() (Region, error) { return c.callerIn(RegionActive) }

// callerIn returns the caller's region record, whose status must be one
// of statuses.
func (c *call) callerIn(statuses ...string) (Region, error) {
	members, err := c.members()
	if err != nil {
		return Region{}, err
	}
	s, ok := members[c.caller]
	if !ok {
		return Region{}, fmt.Errorf("%w: region %s is not registered", ErrForbidden, c.caller)
	}
	if !slices.Contains(statuses, s.Status) {
		return Region{}, fmt.Errorf("%w: region %s is %s", ErrForbidden, c.caller, s.Status)
	}
	return c.region(c.caller, members)
}

// members returns every region's standing: the consortium record, or on
// a chain older than it the standings the region records held, which it
// writes as the consortium record (a read-only call writes nothing).
func (c *call) members() (map[string]Standing, error) {
	var m membership
	err := c.load(&m, objMembers)
	if err == nil {
		return m.Regions, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	regions, err := list[Region](c, objRegion)
	if err != nil {
		return nil, err
	}
	m.Regions = map[string]Standing{}
	for _, r := range regions {
		m.Regions[r.Code] = Standing{Status: r.Status, History: nonNil(r.StatusHistory)}
	}
	if len(regions) > 0 && !c.readOnly {
		return m.Regions, c.save(m, objMembers)
	}
	return m.Regions, nil
}

// region returns region code's record with its standing among members.
func (c *call) region(code string, members map[string]Standing) (Region, error) {
	var r Region
	if err := c.load(&r, objRegion, code); err != nil {
		return r, err
	}
	s := members[code]
	r.Status, r.StatusHistory = s.Status, s.History
	return r, nil
}

// saveRegion stores a region's record without its standing, which the
// consortium record holds.
func (c *call) saveRegion(r Region) error {
	r.Status, r.StatusHistory = "", nil
	return c.save(r, objRegion, r.Code)
}

func (c *call) change(state string) StateChange {
	return StateChange{State: state, At: c.now, Tx: c.st.TxID()}
}

// --- regions and the consortium ---

// RegionInput is RequestRegion's and UpdateRegion's argument.
type RegionInput struct {
	Code      string     `json:"code"`
	DID       string     `json:"did"`
	Name      string     `json:"name,omitempty"`
	Endpoints []Endpoint `json:"endpoints"`
	Keys      []gm.JWK   `json:"keys,omitempty"` // RequestRegion only
}

func (in *RegionInput) check() error {
	if !ValidRegionCode(in.Code) {
		return invalid("region code %.64q is not a GB/T 2260 province-level code", in.Code)
	}
	if err := checkDID(in.DID); err != nil {
		return err
	}
	if err := checkName(in.Name); err != nil {
		return err
	}
	return checkEndpoints(in.Endpoints)
}

// unclaimed refuses, with ErrInvalid, a DID or an endpoint URL that
// another region's record claims (its DID or one of its endpoint URLs,
// or an identifier on one of its hosts, Region.Hosts), whatever that
// region's status: a verifier finds an issuer's region by either
// (ledger.View.IssuerRegion), and an ID on a region's host is that
// region's alone to write (putIssuer), so a shared one would make the
// other region's credentials unverifiable, or verifiable with this
// region's keys while the other is suspended, and would stop the other
// region from writing the issuers it hosts. It refuses too what an issuer
// record claims: its ID (of any region) as the DID or an endpoint URL, or
// the host of another region's issuer record. It reads the claims of the
// input's hosts and identifiers only (see Claim). Not ErrExists: a
// starting node takes that from RequestRegion as its region already
// registered.
func (in *RegionInput) unclaimed(c *call) error {
	self := Region{Code: in.Code, DID: in.DID, Endpoints: in.Endpoints}
	for _, h := range self.Hosts() {
		cl, err := c.claimOf(claimHost, h)
		if err != nil {
			return err
		}
		if cl.Region != "" && cl.Region != in.Code {
			return invalid("the DID or an endpoint is on %s", cl.host(h))
		}
	}
	for _, id := range self.claimedIDs() {
		cl, err := c.claimOf(claimID, id)
		if err != nil {
			return err
		}
		if cl.Issuer != "" || (cl.Region != "" && cl.Region != in.Code) {
			return invalid("%q %s", id, cl.id())
		}
		// An active party's API: the token endpoint would take a token
		// asked for it as one for the region.
		if rc, err := c.claimOf(claimResource, id); err != nil {
			return err
		} else if rc.Party != "" {
			return invalid("%q is the API of relying party %q of region %s", id, rc.Party, rc.Region)
		}
	}
	return nil
}

// Claim is who holds a host or an identifier, stored under the claim key
// of each (claim/host/<host>, claim/id/<ID>), so that a write checks
// what it would take with point reads only: reading every region and
// issuer record instead (a range read) made a transaction fail on Fabric
// (PHANTOM_READ_CONFLICT) whenever any of them changed between its
// endorsement and its commit, so a region writing in every block stalled
// every other region's accreditations. A host is claimed by a region's
// record (Region.Hosts) and by its issuer records (IDHost of their IDs),
// an identifier by a region's record (its DID and endpoint URLs, as
// claimKeyID spells them) or by an issuer record (its ID); one region
// holds each. A region's record releases what it no longer names; an
// issuer's claim is never released (issuers are never removed). A
// resource (claim/resource/<URI>, claimKeyID's spelling) is claimed by
// an active relying party that registers it, the party's client ID as
// Party, since the time it took it (Since), and released when its record
// drops it or the party is suspended (claimResources).
type Claim struct {
	Region string `json:"region"`
	// Record: the region's record names the host or identifier.
	Record bool `json:"record,omitempty"`
	// Issuer is the ID of the first issuer record on the host, or the
	// issuer whose ID the identifier is.
	Issuer string `json:"issuer,omitempty"`
	// Party is the client ID of the relying party whose resource (one
	// of its APIs) the claim is, of kind claimResource.
	Party string `json:"party,omitempty"`
	// Since is when Party took the resource, of kind claimResource: the
	// time of the transaction that claimed it while no party held it
	// (RelyingParty.ResourcesSince). Zero on a claim a contract older
	// than the time wrote.
	Since time.Time `json:"since,omitzero"`
	// Also holds the claims of other regions' records and issuers on a
	// chain an even older contract wrote, which let two regions name one
	// host or identifier (indexClaims): when Region releases the claim,
	// it passes to the first of them, not to whoever writes next.
	Also []Claim `json:"also,omitempty"`
}

// share adds o, a claim of another region than cl's, to cl.Also, and
// reports whether that changed cl.
func (cl *Claim) share(o Claim) bool {
	i := slices.IndexFunc(cl.Also, func(a Claim) bool { return a.Region == o.Region })
	if i < 0 {
		cl.Also = append(cl.Also, o)
		return true
	}
	a := &cl.Also[i]
	was := *a
	a.Record = a.Record || o.Record
	if a.Issuer == "" {
		a.Issuer = o.Issuer
	}
	return a.Record != was.Record || a.Issuer != was.Issuer
}

// release drops the record's part of region's claim cl (its record no
// longer names it) and reports whether that changed cl. The claim passes
// to the first of Also once no record or issuer of its region holds it.
func (cl *Claim) release(region string) bool {
	if cl.Region == region && cl.Record {
		cl.Record = false
		if cl.Issuer == "" {
			next := Claim{}
			if len(cl.Also) > 0 {
				next = cl.Also[0]
				next.Also = cl.Also[1:]
			}
			*cl = next
		}
		return true
	}
	i := slices.IndexFunc(cl.Also, func(a Claim) bool { return a.Region == region && a.Record })
	if i < 0 {
		return false
	}
	if cl.Also[i].Issuer == "" {
		cl.Also = slices.Delete(cl.Also, i, i+1)
	} else {
		cl.Also[i].Record = false
	}
	return true
}

// named returns the part of cl that a region's record holds: cl itself,
// or, where its holder is only an issuer (its region's record dropped it),
// the first of Also whose record names it (a chain an even older
// contract wrote, see Also).
func (cl Claim) named() (Claim, bool) {
	if cl.Record {
		return cl, true
	}
	i := slices.IndexFunc(cl.Also, func(a Claim) bool { return a.Record })
	if i < 0 {
		return Claim{}, false
	}
	return cl.Also[i], true
}

// Kinds of claims.
const (
	claimHost     = "host"
	claimID       = "id"
	claimResource = "resource"
)

// host names, for an error, a claimed host h and who holds it.
func (cl Claim) host(h string) string {
	if cl.Record {
		return fmt.Sprintf("host %s of region %s", h, cl.Region)
	}
	return fmt.Sprintf("host %s of issuer %q of region %s", h, cl.Issuer, cl.Region)
}

// other returns the part of cl a region other than region holds: cl
// itself, or, where region holds it, one of Also (a chain an even older
// contract wrote, which let two regions name one host).
func (cl Claim) other(region string) (Claim, bool) {
	if cl.Region != "" && cl.Region != region {
		return cl, true
	}
	i := slices.IndexFunc(cl.Also, func(a Claim) bool { return a.Region != "" && a.Region != region })
	if i < 0 {
		return Claim{}, false
	}
	return cl.Also[i], true
}

// id says, for an error, who holds a claimed identifier.
func (cl Claim) id() string {
	if cl.Record {
		return fmt.Sprintf("is the DID or an endpoint of region %s", cl.Region)
	}
	return fmt.Sprintf("is the ID of issuer %q of region %s", cl.Issuer, cl.Region)
}

// claimKeyID spells an identifier as its claim's key: a DID as it is, a
// URL as normURL spells it.
func claimKeyID(id string) string {
	if n, ok := normURL(id); ok && !strings.HasPrefix(id, "did:") {
		return n
	}
	return id
}

// claimedIDs returns the identifiers the region's record claims, as
// claimKeyID spells them, without repeats.
func (r Region) claimedIDs() []string {
	var ids []string
	for _, id := range append([]string{r.DID}, endpointURLs(r.Endpoints)...) {
		if k := claimKeyID(id); !slices.Contains(ids, k) {
			ids = append(ids, k)
		}
	}
	return ids
}

// claimsIndexed is the key of the mark that the claims are stored.
const claimsIndexed = "indexed"

// claimOf returns the claim of kind on name; the zero Claim if no one
// holds it. On a chain an older contract wrote, which stored no claims,
// the first call stores every record's (indexClaims).
func (c *call) claimOf(kind, name string) (Claim, error) {
	if err := c.indexClaims(); err != nil {
		return Claim{}, err
	}
	if cl, ok := c.claims[[2]string{kind, name}]; ok {
		return cl, nil
	}
	var cl Claim
	if err := c.load(&cl, objClaim, kind, name); err != nil && !errors.Is(err, ErrNotFound) {
		return Claim{}, err
	}
	return cl, nil
}

// setClaim stores cl as the claim of kind on name; a Claim of no region
// deletes it.
func (c *call) setClaim(kind, name string, cl Claim) error {
	if c.claims == nil {
		c.claims = map[[2]string]Claim{}
	}
	c.claims[[2]string{kind, name}] = cl
	if cl.Region == "" {
		return c.del(objClaim, kind, name)
	}
	return c.save(cl, objClaim, kind, name)
}

// indexClaims stores the claims of every region and issuer record, once:
// a chain an older contract wrote has none. It reads every record (the
// range reads the claims replace) in the one transaction that finds no
// mark, and writes the mark. Where records of an even older contract
// claim one host for two regions, the region's record holds it, else the
// first issuer record in key order.
func (c *call) indexClaims() error {
	if c.indexed {
		return nil
	}
	if ok, err := c.exists(objClaim, claimsIndexed); err != nil || ok {
		c.indexed = ok
		return err
	}
	regions, err := list[Region](c, objRegion)
	if err != nil {
		return err
	}
	issuers, err := list[Issuer](c, objIssuer)
	if err != nil {
		return err
	}
	c.indexed = true // the claims below are read and written from here on
	if err := c.save(map[string]string{"tx": c.st.TxID()}, objClaim, claimsIndexed); err != nil {
		return err
	}
	for _, r := range regions {
		if err := c.reclaim(Region{}, r); err != nil {
			return err
		}
	}
	for _, x := range issuers {
		if err := c.claimIssuer(x.Region, x.ID); err != nil {
			return err
		}
	}
	return nil
}

// reclaim moves the claims of a region's record from what old names to
// what r names: it claims r's hosts and identifiers and releases those
// only old names (a host an issuer of the region is on stays the
// region's). A claim another region holds is left to it, r's shared
// with it (Claim.Also: unclaimed refused such a write; only indexClaims
// meets one).
func (c *call) reclaim(old, r Region) error {
	for _, kind := range []string{claimHost, claimID} {
		was, now := old.Hosts(), r.Hosts()
		if kind == claimID {
			was, now = old.claimedIDs(), r.claimedIDs()
		}
		if old.Code == "" {
			was = nil
		}
		for _, name := range now {
			cl, err := c.claimOf(kind, name)
			if err != nil {
				return err
			}
			switch {
			case cl.Region == "" || (cl.Region == r.Code && !cl.Record):
				cl.Region, cl.Record = r.Code, true
			case cl.Region == r.Code || !cl.share(Claim{Region: r.Code, Record: true}):
				continue
			}
			if err := c.setClaim(kind, name, cl); err != nil {
				return err
			}
		}
		for _, name := range was {
			if slices.Contains(now, name) {
				continue
			}
			cl, err := c.claimOf(kind, name)
			if err != nil {
				return err
			}
			if !cl.release(r.Code) {
				continue
			}
			if err := c.setClaim(kind, name, cl); err != nil {
				return err
			}
		}
	}
	return nil
}

// claimIssuer claims for region the host and the identifier of issuer id,
// unless already claimed (another region's claim shared, Claim.Also).
func (c *call) claimIssuer(region, id string) error {
	host, _ := IDHost(id)
	for _, k := range [][2]string{{claimHost, host}, {claimID, claimKeyID(id)}} {
		kind, name := k[0], k[1]
		cl, err := c.claimOf(kind, name)
		if err != nil {
			return err
		}
		switch {
		case cl.Region == "" || (cl.Region == region && cl.Issuer == ""):
			cl.Region, cl.Issuer = region, id
		case cl.Region == region || !cl.share(Claim{Region: region, Issuer: id}):
			continue
		}
		if err := c.setClaim(kind, name, cl); err != nil {
			return err
		}
	}
	return nil
}

// normURL spells an endpoint URL with scheme and host in lower case, the
// port in its one spelling (canonicalPort: the scheme's default removed)
// and trailing slashes removed: two URLs so spelled alike are one.
func normURL(s string) (string, bool) {
	u, err := url.Parse(s)
	if err != nil {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	port, ok := canonicalPort(scheme, u.Port())
	if !ok {
		return "", false
	}
	host := strings.ToLower(u.Hostname())
	if port != "" || strings.Contains(host, ":") {
		host = net.JoinHostPort(host, port) // brackets an IPv6 address
		host = strings.TrimSuffix(host, ":")
	}
	v := url.URL{Scheme: scheme, Host: host, Path: strings.TrimRight(u.Path, "/"),
		RawPath: strings.TrimRight(u.RawPath, "/"), RawQuery: u.RawQuery}
	return v.String(), true
}

func requestRegion(c *call) (any, error) {
	var in RegionInput
	if err := decodeArg(c.args[0], &in); err != nil {
		return nil, err
	}
	if err := in.check(); err != nil {
		return nil, err
	}
	if in.Code != c.caller {
		return nil, fmt.Errorf("%w: region %s may only request its own admission, not %s", ErrForbidden, c.caller, in.Code)
	}
	if len(in.Keys) == 0 || len(in.Keys) > 16 {
		return nil, invalid("a region registers 1 to 16 signing keys")
	}
	if ok, err := c.exists(objRegion, in.Code); err != nil || ok {
		if err == nil {
			err = fmt.Errorf("%w: region %s", ErrExists, in.Code)
		}
		return nil, err
	}
	if err := in.unclaimed(c); err != nil {
		return nil, err
	}
	r := Region{Code: in.Code, MSPID: RegionMSP(in.Code), DID: in.DID, Name: in.Name,
		Endpoints: nonNil(in.Endpoints), Created: c.now, Updated: c.now}
	for _, j := range in.Keys {
		if err := r.addKey(c, j); err != nil {
			return nil, err
		}
	}
	members, err := c.members()
	if err != nil {
		return nil, err
	}
	genesis := true
	for _, s := range members {
		genesis = genesis && s.Status != RegionActive
	}
	action := "requested"
	if genesis {
		r.Status, action = RegionActive, "genesis"
	} else {
		r.Status = RegionPending
		p := Proposal{Action: ActionAdmit, Region: r.Code, Votes: []string{}, Created: c.now}
		if err := c.save(p, objProposal, ActionAdmit, r.Code); err != nil {
			return nil, err
		}
	}
	r.StatusHistory = []StateChange{c.change(r.Status)}
	members[r.Code] = Standing{Status: r.Status, History: r.StatusHistory}
	if err := c.save(membership{Regions: members}, objMembers); err != nil {
		return nil, err
	}
	if err := c.saveRegion(r); err != nil {
		return nil, err
	}
	if err := c.reclaim(Region{}, r); err != nil {
		return nil, err
	}
	return r, c.emit(EventRegistry, RegistryEvent{Kind: "region", ID: r.Code, Region: r.Code, Action: action})
}

func (r *Region) addKey(c *call, j gm.JWK) error {
	alg, err := checkJWK(j)
	if err != nil {
		return err
	}
	if len(r.Keys) >= 64 {
		return invalid("a region keeps at most 64 keys in its history")
	}
	for _, k := range r.Keys {
		if k.Kid == j.Kid {
			return fmt.Errorf("%w: key %q", ErrExists, j.Kid)
		}
	}
	j.Alg, j.Use = alg, "sig"
	r.Keys = append(r.Keys, RegistryKey{Kid: j.Kid, Alg: alg, JWK: j, State: KeyActive, History: []StateChange{c.change(KeyActive)}})
	return nil
}

// vote: args action, region.
func vote(c *call) (any, error) {
	action, code := c.arg(0), c.arg(1)
	want := map[string]string{ActionAdmit: RegionPending, ActionSuspend: RegionActive, ActionReinstate: RegionSuspended}
	from, ok := want[action]
	if !ok {
		return nil, invalid("action must be admit, suspend or reinstate")
	}
	if !ValidRegionCode(code) {
		return nil, invalid("region code %.64q", code)
	}
	if _, err := c.activeCaller(); err != nil {
		return nil, err
	}
	if code == c.caller {
		return nil, fmt.Errorf("%w: a region does not vote on its own membership", ErrForbidden)
	}
	// The standings only: a vote reads nothing its subject writes (see
	// Standing).
	members, err := c.members()
	if err != nil {
		return nil, err
	}
	subject, ok := members[code]
	if !ok {
		return nil, fmt.Errorf("%w: region %s", ErrNotFound, code)
	}
	if subject.Status != from {
		return nil, fmt.Errorf("%w: cannot %s region %s while it is %s", ErrRegionState, action, code, subject.Status)
	}
	var p Proposal
	if err := c.load(&p, objProposal, action, code); errors.Is(err, ErrNotFound) {
		p = Proposal{Action: action, Region: code, Votes: []string{}, Created: c.now}
	} else if err != nil {
		return nil, err
	}
	// A region that voted already may only confirm its vote: that applies
	// votes that became a majority when a voter was suspended, which no
	// one else may be left to do.
	again := slices.Contains(p.Votes, c.caller)
	if !again {
		p.Votes = append(p.Votes, c.caller)
	}

	voters := map[string]bool{}
	for m, s := range members {
		if s.Status == RegionActive && m != code {
			voters[m] = true
		}
	}
	yes := 0
	for _, v := range p.Votes {
		if voters[v] {
			yes++
		}
	}
	// voters holds the caller at least (active, not the subject).
	if yes*2 <= len(voters) { // not yet a strict majority
		if again {
			return nil, fmt.Errorf("%w: %s on %s %s", ErrAlreadyVoted, c.caller, action, code)
		}
		if err := c.save(p, objProposal, action, code); err != nil {
			return nil, err
		}
		return p, c.emit(EventRegistry, RegistryEvent{Kind: "proposal", ID: action + ":" + code, Region: c.caller, Action: "voted"})
	}
	to := map[string]string{ActionAdmit: RegionActive, ActionSuspend: RegionSuspended, ActionReinstate: RegionActive}[action]
	subject.Status, subject.History = to, append(slices.Clone(subject.History), c.change(to))
	members[code] = subject
	if err := c.save(membership{Regions: members}, objMembers); err != nil {
		return nil, err
	}
	if err := c.del(objProposal, action, code); err != nil {
		return nil, err
	}
	past := map[string]string{ActionAdmit: "admitted", ActionSuspend: "suspended", ActionReinstate: "reinstated"}[action]
	return subject, c.emit(EventRegistry, RegistryEvent{Kind: "region", ID: code, Region: code, Action: past})
}

func updateRegion(c *call) (any, error) {
	var in RegionInput
	if err := decodeArg(c.args[0], &in); err != nil {
		return nil, err
	}
	if err := in.check(); err != nil {
		return nil, err
	}
	if in.Code != c.caller {
		return nil, fmt.Errorf("%w: region %s may not update region %s", ErrForbidden, c.caller, in.Code)
	}
	if len(in.Keys) != 0 {
		return nil, invalid("keys change through AddRegionKey and SetRegionKeyState")
	}
	r, err := c.activeCaller()
	if err != nil {
		return nil, err
	}
	if err := in.unclaimed(c); err != nil {
		return nil, err
	}
	old := r
	r.DID, r.Name, r.Endpoints, r.Updated = in.DID, in.Name, nonNil(in.Endpoints), c.now
	if err := c.saveRegion(r); err != nil {
		return nil, err
	}
	if err := c.reclaim(old, r); err != nil {
		return nil, err
	}
	return r, c.emit(EventRegistry, RegistryEvent{Kind: "region", ID: r.Code, Region: r.Code, Action: "updated"})
}

func addRegionKey(c *call) (any, error) {
	var j gm.JWK
	if err := decodeArg(c.args[0], &j); err != nil {
		return nil, err
	}
	r, err := c.activeCaller()
	if err != nil {
		return nil, err
	}
	if err := r.addKey(c, j); err != nil {
		return nil, err
	}
	r.Updated = c.now
	if err := c.saveRegion(r); err != nil {
		return nil, err
	}
	return r, c.emit(EventRegistry, RegistryEvent{Kind: "region", ID: r.Code, Region: r.Code, Action: "key_added"})
}

// keyTransitions lists the allowed key state changes.
var keyTransitions = map[string][]string{
	KeyActive:   {KeyRetiring, KeyRetired, KeyRevoked},
	KeyRetiring: {KeyRetired, KeyRevoked},
	KeyRetired:  {KeyRevoked},
}

// setRegionKeyState: args kid, state. A suspended region may still
// retire or revoke a key (which then verifies nothing), so that a key
// stolen from it is withdrawn before the consortium reinstates it; it
// may make no other change.
func setRegionKeyState(c *call) (any, error) {
	kid, state := c.arg(0), c.arg(1)
	statuses := []string{RegionActive}
	if state == KeyRetired || state == KeyRevoked {
		statuses = append(statuses, RegionSuspended)
	}
	r, err := c.callerIn(statuses...)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(r.Keys, func(k RegistryKey) bool { return k.Kid == kid })
	if i < 0 {
		return nil, fmt.Errorf("%w: key %.64q of region %s", ErrNotFound, kid, r.Code)
	}
	k := &r.Keys[i]
	if !slices.Contains(keyTransitions[k.State], state) {
		return nil, fmt.Errorf("%w: %s → %.64q", ErrKeyTransition, k.State, state)
	}
	k.State = state
	k.History = append(k.History, c.change(state))
	r.Updated = c.now
	if err := c.saveRegion(r); err != nil {
		return nil, err
	}
	return r, c.emit(EventRegistry, RegistryEvent{Kind: "region", ID: r.Code, Region: r.Code, Action: "key_" + state})
}

func getRegion(c *call) (any, error) {
	if _, err := CompositeKey(objRegion, c.arg(0)); err != nil {
		return nil, invalid("%v", err)
	}
	members, err := c.members()
	if err != nil {
		return nil, err
	}
	return c.region(c.arg(0), members)
}

func listRegions(c *call) (any, error) {
	regions, err := list[Region](c, objRegion)
	if err != nil {
		return nil, err
	}
	return regions, c.withStandings(regions)
}

func listRegionsPage(c *call) (any, error) {
	p, err := listPage[Region](c, c.arg(0), objRegion)
	if err != nil {
		return nil, err
	}
	return p, c.withStandings(p.Items)
}

// withStandings sets the standing of each region of regions.
func (c *call) withStandings(regions []Region) error {
	members, err := c.members()
	if err != nil {
		return err
	}
	for i, r := range regions {
		s := members[r.Code]
		regions[i].Status, regions[i].StatusHistory = s.Status, s.History
	}
	return nil
}

func getProposal(c *call) (any, error) {
	var p Proposal
	return p, c.load(&p, objProposal, c.arg(0), c.arg(1))
}

func listProposals(c *call) (any, error) { return list[Proposal](c, objProposal) }

// --- issuers, relying parties, terminals ---

func putIssuer(c *call) (any, error) {
	var in Issuer
	if err := decodeArg(c.args[0], &in); err != nil {
		return nil, err
	}
	if err := checkID("issuer id", in.ID); err != nil {
		return nil, err
	}
	if _, ok := IDHost(in.ID); !ok {
		// A self-certifying DID (did:key, did:jwk) names its own key, and
		// an ID with no host has no owner the contract can tell.
		return nil, invalid("an issuer id must be a did:web DID or an http(s) URL: the host it names decides which region may write it")
	}
	if strings.HasPrefix(in.ID, "did:") {
		if err := checkDID(in.ID); err != nil { // a DID URL (fragment, path, query) is not an issuer
			return nil, err
		}
	}
	if err := checkName(in.Name); err != nil {
		return nil, err
	}
	if len(in.Types) == 0 {
		return nil, invalid("an issuer may issue at least one credential type")
	}
	if err := checkTokens("credential types", in.Types, 64); err != nil {
		return nil, err
	}
	for _, t := range in.Types {
		if IsEnrollmentType(t) {
			return nil, invalid("%.128s is issued by a region's enrollment only; no issuer is accredited for it", t)
		}
	}
	if err := checkEntryStatus(in.Status); err != nil {
		return nil, err
	}
	var old Issuer
	if err := c.load(&old, objIssuer, in.ID); err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	if old.Region != c.caller {
		if err := c.issuerIDFree(in.ID); err != nil {
			return nil, err
		}
	}
	if err := c.typeHostsFree(in.Types); err != nil {
		return nil, err
	}
	keys, err := c.issuerKeys(old.Keys, in.Keys)
	if err != nil {
		return nil, err
	}
	in.Keys = keys
	out, err := putOwned(c, &in, "issuer", objIssuer, in.ID, false)
	if err != nil {
		return nil, err
	}
	return out, c.claimIssuer(c.caller, in.ID)
}

// issuerIDFree refuses, with ErrForbidden, the ID of an issuer the
// caller adds (or another region's, which putOwned refuses after) where
// the ID is not the caller's to take. An ID that is a region's DID or
// endpoint URL would pass for its node: it is refused while any region's
// record names it, even where the claim's holder is an issuer whose
// region's record dropped it and another region's record shares it
// (Claim.named, on a chain an even older contract wrote), as a relying
// party's resource is. One on a region's host (Region.Hosts) would pass
// for an issuer that node hosts, which is for the region alone to write.
// Hosts no region names are first come between regions: an issuer record
// of another region on the ID's host keeps it (IDHost: its case, a
// trailing dot and the default port do not make another host). The
// claims tell (Claim), read for the ID and its host only. An issuer the
// caller already holds is not checked: its ID and host are claimed for it
// already (shared with another region's on such an older chain), and
// refusing its update would stop its region suspending it or rotating
// its keys.
func (c *call) issuerIDFree(id string) error {
	if cl, err := c.claimOf(claimID, claimKeyID(id)); err != nil {
		return err
	} else if r, ok := cl.named(); ok {
		return fmt.Errorf("%w: region %s may not write issuer %q: it %s", ErrForbidden, c.caller, id, r.id())
	}
	host, _ := IDHost(id)
	if cl, err := c.claimOf(claimHost, host); err != nil {
		return err
	} else if cl.Region != "" && cl.Region != c.caller {
		return fmt.Errorf("%w: region %s may not write issuer %q: it is on %s", ErrForbidden, c.caller, id, cl.host(host))
	}
	return nil
}

// typeHostsFree refuses, with ErrForbidden, a credential type that is a
// URL (an SD-JWT VC vct) or a did:web on a host another region claims:
// a host of its record (Region.Hosts) or of one of its issuer records.
// Such a type is that region's to define (its node serves the type's
// metadata there), and relying parties ask for one region's credentials
// by it (a vct per region's domain, docs/credentials.md), so an issuer of
// the caller's accredited for it could issue what they take for the other
// region's.
func (c *call) typeHostsFree(types []string) error {
	for _, t := range types {
		h, ok := IDHost(t)
		if !ok {
			continue
		}
		cl, err := c.claimOf(claimHost, h)
		if err != nil {
			return err
		}
		if cl.Region != "" && cl.Region != c.caller {
			return fmt.Errorf("%w: credential type %q is on %s", ErrForbidden, t, cl.host(h))
		}
	}
	return nil
}

// issuerKeys merges the keys of a PutIssuer with the stored ones: a stored
// key must appear again (keys are never removed) with the same JWK, and a
// change of state must be an allowed transition; a new key starts active.
// Kid, Alg and History are the contract's.
func (c *call) issuerKeys(old, in []RegistryKey) ([]RegistryKey, error) {
	if len(in) > 64 {
		return nil, invalid("an issuer keeps at most 64 keys in its history")
	}
	out := make([]RegistryKey, 0, len(in))
	seen := map[string]bool{}
	for _, k := range in {
		alg, err := checkJWK(k.JWK)
		if err != nil {
			return nil, err
		}
		kid := k.JWK.Kid
		if seen[kid] {
			return nil, invalid("issuer key %q repeated", kid)
		}
		seen[kid] = true
		k.JWK.Alg, k.JWK.Use = alg, "sig"
		i := slices.IndexFunc(old, func(o RegistryKey) bool { return o.Kid == kid })
		if i < 0 {
			if k.State != "" && k.State != KeyActive {
				return nil, invalid("new issuer key %q must be active", kid)
			}
			out = append(out, RegistryKey{Kid: kid, Alg: alg, JWK: k.JWK, State: KeyActive, History: []StateChange{c.change(KeyActive)}})
			continue
		}
		prev := old[i]
		if prev.JWK.Kty != k.JWK.Kty || prev.JWK.Crv != k.JWK.Crv || prev.JWK.X != k.JWK.X || prev.JWK.Y != k.JWK.Y {
			return nil, invalid("issuer key %q is registered with another public key", kid)
		}
		if k.State != "" && k.State != prev.State {
			if !slices.Contains(keyTransitions[prev.State], k.State) {
				return nil, fmt.Errorf("%w: issuer key %q: %s → %q", ErrKeyTransition, kid, prev.State, k.State)
			}
			prev.State = k.State
			prev.History = append(slices.Clone(prev.History), c.change(k.State))
		}
		out = append(out, prev)
	}
	for _, o := range old {
		if !seen[o.Kid] {
			return nil, invalid("issuer key %q is missing: keys are kept for history (retire or revoke them)", o.Kid)
		}
	}
	return out, nil
}

// owned is a registry entry that belongs to one region: an issuer, a
// relying party or a terminal.
type owned[T any] interface {
	*T
	// stamps returns the owning region and the entry's times, to be set.
	stamps() (region *string, created, updated *time.Time)
	// withdraws reports whether the entry, a write of the stored old,
	// only withdraws trust: it changes nothing but the entry's status,
	// to one that is not active, and its keys' states (no key added),
	// besides what the contract sets (times, version, key histories).
	withdraws(old *T) bool
}

func (x *Issuer) stamps() (*string, *time.Time, *time.Time) {
	return &x.Region, &x.Created, &x.Updated
}

func (x *RelyingParty) stamps() (*string, *time.Time, *time.Time) {
	return &x.HomeRegion, &x.Created, &x.Updated
}

func (x *Terminal) stamps() (*string, *time.Time, *time.Time) {
	return &x.Region, &x.Created, &x.Updated
}

// withdraws: an issuer's keys are all the stored ones (issuerKeys), so
// as many as before means none added, and their states moved on only
// (keyTransitions).
func (x *Issuer) withdraws(old *Issuer) bool {
	return withdrawnStatus(x.Status, old.Status) && len(x.Keys) == len(old.Keys) &&
		x.Name == old.Name && slices.Equal(x.Types, old.Types)
}

// withdraws: a relying party's key history (rpKeys) grows only by a key
// added, so as many as before means its current keys are some of the
// stored ones, the others retired.
func (x *RelyingParty) withdraws(old *RelyingParty) bool {
	return withdrawnStatus(x.Status, old.Status) && len(x.Keys) == len(old.Keys) &&
		x.Name == old.Name && x.AuthMethod == old.AuthMethod && x.SecretVerifier == old.SecretVerifier &&
		x.SectorIdentifier == old.SectorIdentifier && x.IDTokenAlg == old.IDTokenAlg && x.AccessTokenAlg == old.AccessTokenAlg &&
		slices.Equal(x.GrantTypes, old.GrantTypes) && slices.Equal(x.RedirectURIs, old.RedirectURIs) &&
		slices.Equal(x.PostLogoutRedirectURIs, old.PostLogoutRedirectURIs) && slices.Equal(x.Resources, old.Resources) &&
		slices.Equal(x.Scopes, old.Scopes) && slices.Equal(x.Claims, old.Claims)
}

// withdraws: a terminal's key never changes (writeTerminal).
func (x *Terminal) withdraws(old *Terminal) bool {
	return withdrawnStatus(x.Status, old.Status) && x.Kind == old.Kind && x.Name == old.Name && x.Location == old.Location
}

// withdrawnStatus reports whether an entry's status, from old to s,
// withdraws trust or keeps it as it was: s is old, or not active.
func withdrawnStatus(s, old string) bool { return s == old || s != EntryActive }

// putOwned stores an entry of the caller's region: only an active region
// writes, only its own entries (a new entry is stamped with the caller's
// region; an existing one must already be the caller's; a region the
// input names must be a registered one, else ErrUnknownRegion), the
// creation time is kept across updates, and a registry event names the
// change. With create, an existing entry is refused with ErrExists.
func putOwned[T any, P owned[T]](c *call, in P, kind, objectType, id string, create bool) (any, error) {
	region, created, updated := in.stamps()
	if *region != "" {
		if !ValidRegionCode(*region) {
			return nil, fmt.Errorf("%w: %.64q is not a GB/T 2260 province-level code", ErrUnknownRegion, *region)
		}
		if known, err := c.exists(objRegion, *region); err != nil {
			return nil, err
		} else if !known {
			return nil, fmt.Errorf("%w: region %s is not registered", ErrUnknownRegion, *region)
		}
	}
	if *region != "" && *region != c.caller {
		return nil, fmt.Errorf("%w: region %s may not write %s of region %s", ErrForbidden, c.caller, kind, *region)
	}
	if _, err := c.activeCaller(); err != nil {
		return nil, err
	}
	*region = c.caller
	var old T
	oldSize, err := c.loadSized(&old, objectType, id)
	oldRegion, oldCreated, _ := P(&old).stamps()
	action, added := "updated", 0
	switch {
	case errors.Is(err, ErrNotFound):
		*created, action, added = c.now, "added", 1
	case err != nil:
		return nil, err
	default:
		if err := c.mayWrite(kind, id, *oldRegion, true, create); err != nil {
			return nil, err
		}
		*created = *oldCreated
	}
	*updated = c.now
	size, err := c.saveSized(*in, objectType, id)
	if err != nil {
		return nil, err
	}
	// The quota counts what the write adds; a withdrawal is never refused
	// (MaxRegionBytes). A refusal discards the write.
	if err := c.count(added, int64(size-oldSize), added == 0 && in.withdraws(&old)); err != nil {
		return nil, err
	}
	return *in, c.emit(EventRegistry, RegistryEvent{Kind: strings.ReplaceAll(kind, " ", "_"), ID: id, Region: c.caller, Action: action})
}

// mayWrite refuses the write of a stored entry (found) of region owner:
// with create, ErrExists; another region's, ErrForbidden. Writers call it
// before they compare the input with the stored entry (its version, its
// keys), so another region's write is refused as such.
func (c *call) mayWrite(kind, id, owner string, found, create bool) error {
	switch {
	case !found:
		return nil
	case create:
		return fmt.Errorf("%w: %s %q is registered (by region %s)", ErrExists, kind, id, owner)
	case owner != c.caller:
		return fmt.Errorf("%w: %s %q belongs to region %s", ErrForbidden, kind, id, owner)
	}
	return nil
}

func getIssuer(c *call) (any, error) {
	var x Issuer
	return x, c.load(&x, objIssuer, c.arg(0))
}

func listIssuers(c *call) (any, error) { return list[Issuer](c, objIssuer) }

func addRP(c *call) (any, error) { return writeRP(c, true) }
func putRP(c *call) (any, error) { return writeRP(c, false) }

var reSecretVerifier = regexp.MustCompile(`^hmac-sm3\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$`)

// writeRP checks a relying party, merges its keys into their history and
// stores it (create: a new client ID only).
func writeRP(c *call, create bool) (any, error) {
	var in RelyingParty
	if err := decodeArg(c.args[0], &in); err != nil {
		return nil, err
	}
	if !reClientID.MatchString(in.ClientID) {
		return nil, invalid("client_id must be 3 to 64 characters from A-Z a-z 0-9 . _ -, starting with a letter or digit")
	}
	if err := checkName(in.Name); err != nil {
		return nil, err
	}
	if len(in.JWKS.Keys) > 16 {
		return nil, invalid("a relying party registers at most 16 current keys")
	}
	for _, j := range in.JWKS.Keys {
		if _, err := checkJWK(j); err != nil {
			return nil, err
		}
	}
	if len(in.Scopes) == 0 {
		return nil, fmt.Errorf("%w: a relying party needs at least one scope", ErrUnknownScope)
	}
	if err := checkTokens("scopes", in.Scopes, 64); err != nil {
		return nil, err
	}
	for _, s := range in.Scopes {
		if !slices.Contains(Scopes, s) {
			return nil, fmt.Errorf("%w: %q is not one of %v", ErrUnknownScope, s, Scopes)
		}
	}
	if err := checkTokens("claims", in.Claims, 64); err != nil {
		return nil, err
	}
	if len(in.GrantTypes) == 0 {
		in.GrantTypes = []string{GrantClientCredentials}
	}
	if err := checkTokens("grant types", in.GrantTypes, len(GrantTypes)); err != nil {
		return nil, err
	}
	for _, g := range in.GrantTypes {
		if !slices.Contains(GrantTypes, g) {
			return nil, invalid("grant type %q is not one of %v", g, GrantTypes)
		}
	}
	if in.AuthMethod == "" {
		in.AuthMethod = AuthPrivateKeyJWT
	}
	switch in.AuthMethod {
	case AuthPrivateKeyJWT:
		if len(in.JWKS.Keys) == 0 || in.SecretVerifier != "" {
			return nil, invalid("a private_key_jwt relying party has at least one key and no secret verifier")
		}
	case AuthClientSecretBasic:
		if len(in.JWKS.Keys) != 0 || !reSecretVerifier.MatchString(in.SecretVerifier) {
			return nil, invalid("a client_secret_basic relying party has no keys and a secret verifier hmac-sm3$salt$mac")
		}
	default:
		return nil, invalid("token endpoint auth method must be one of %v", AuthMethods)
	}
	if in.SectorIdentifier != "" && (len(in.SectorIdentifier) > 253 || !reHost.MatchString(in.SectorIdentifier)) {
		return nil, invalid("sector identifier must be a lower-case DNS host name")
	}
	if err := checkRedirects("redirect URI", in.RedirectURIs); err != nil {
		return nil, err
	}
	if err := checkRedirects("post-logout redirect URI", in.PostLogoutRedirectURIs); err != nil {
		return nil, err
	}
	if err := checkResources(in.Resources); err != nil {
		return nil, err
	}
	if in.IDTokenAlg != "" && in.IDTokenAlg != gm.AlgSM2 && in.IDTokenAlg != "ES256" {
		return nil, invalid("ID token algorithm must be SM2 or ES256, not %.64q", in.IDTokenAlg)
	}
	if in.AccessTokenAlg != "" && in.AccessTokenAlg != gm.AlgSM2 && in.AccessTokenAlg != "ES256" {
		return nil, invalid("access token algorithm must be SM2 or ES256, not %.64q", in.AccessTokenAlg)
	}
	if err := checkEntryStatus(in.Status); err != nil {
		return nil, err
	}
	var old RelyingParty
	if err := c.load(&old, objRP, in.ClientID); err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	if err := c.mayWrite("relying party", in.ClientID, old.HomeRegion, old.ClientID != "", create); err != nil {
		return nil, err
	}
	if in.Version != 0 && !create && in.Version != old.Version {
		return nil, fmt.Errorf("%w: relying party %q is at version %d, not %d", ErrStale, in.ClientID, old.Version, in.Version)
	}
	if err := c.claimResources(&old, &in); err != nil {
		return nil, err
	}
	keys, err := c.rpKeys(old.Keys, in.JWKS.Keys)
	if err != nil {
		return nil, err
	}
	in.Keys, in.Version = keys, old.Version+1
	for i := range in.JWKS.Keys {
		in.JWKS.Keys[i] = keys[slices.IndexFunc(keys, func(k RegistryKey) bool { return k.Kid == in.JWKS.Keys[i].Kid })].JWK
	}
	in.JWKS.Keys = nonNil(in.JWKS.Keys)
	in.Scopes, in.Claims = nonNil(in.Scopes), nonNil(in.Claims)
	in.RedirectURIs, in.PostLogoutRedirectURIs = nonNil(in.RedirectURIs), nonNil(in.PostLogoutRedirectURIs)
	return putOwned(c, &in, "relying party", objRP, in.ClientID, create)
}

// rpKeys merges a relying party's current keys into the stored history:
// a new kid starts active; a stored key named again must have the same
// public key and be active (a retired key never returns); an active key
// no longer named is retired. At most 64 keys are kept.
func (c *call) rpKeys(old []RegistryKey, current []gm.JWK) ([]RegistryKey, error) {
	out := slices.Clone(old)
	seen := map[string]bool{}
	for _, j := range current {
		alg, _ := checkJWK(j) // checked by the caller
		if seen[j.Kid] {
			return nil, invalid("key %q repeated", j.Kid)
		}
		seen[j.Kid] = true
		j.Alg, j.Use = alg, "sig"
		i := slices.IndexFunc(out, func(k RegistryKey) bool { return k.Kid == j.Kid })
		if i < 0 {
			out = append(out, RegistryKey{Kid: j.Kid, Alg: alg, JWK: j, State: KeyActive, History: []StateChange{c.change(KeyActive)}})
			continue
		}
		prev := out[i].JWK
		if prev.Kty != j.Kty || prev.Crv != j.Crv || prev.X != j.X || prev.Y != j.Y {
			return nil, fmt.Errorf("%w: key %q is registered with another public key", ErrMalformedKey, j.Kid)
		}
		if out[i].State != KeyActive {
			return nil, fmt.Errorf("%w: key %q is %s and cannot return", ErrKeyTransition, j.Kid, out[i].State)
		}
	}
	for i, k := range out {
		if k.State == KeyActive && !seen[k.Kid] {
			out[i].State = KeyRetired
			out[i].History = append(slices.Clone(k.History), c.change(KeyRetired))
		}
	}
	if len(out) > 64 {
		return nil, invalid("a relying party keeps at most 64 keys in its history")
	}
	return nonNil(out), nil
}

// checkRedirects accepts at most 32 distinct absolute https URLs (http for
// loopback hosts) of at most 512 bytes, without user info or fragment.
func checkRedirects(what string, uris []string) error {
	if len(uris) > 32 {
		return invalid("at most 32 %ss", what)
	}
	for i, s := range uris {
		u, err := url.Parse(s)
		ok := err == nil && len(s) <= 512 && u.IsAbs() && u.Host != "" && u.User == nil && !strings.Contains(s, "#")
		if ok && u.Scheme != "https" {
			h := u.Hostname()
			ok = u.Scheme == "http" && (h == "localhost" || h == "127.0.0.1" || h == "::1")
		}
		if !ok {
			return invalid("%s %d: want an absolute https URL (http only on loopback) without user info or fragment", what, i)
		}
		if slices.Contains(uris[:i], s) {
			return invalid("%s %d repeated", what, i)
		}
	}
	return nil
}

// checkResources checks a relying party's resources: at most 8, each
// as a redirect URI is (checkRedirects) and without a query (RFC 8707
// §2).
func checkResources(uris []string) error {
	if len(uris) > 8 {
		return invalid("at most 8 resources")
	}
	if err := checkRedirects("resource", uris); err != nil {
		return err
	}
	for i, s := range uris {
		if strings.Contains(s, "?") {
			return invalid("resource %d: want no query", i)
		}
	}
	return nil
}

// claimResources moves a relying party's resource claims (claim/
// resource/<URI as claimKeyID spells it>, held by the party's client ID
// and region) from what old claims to what in claims (claimedResources):
// it claims in's resources and releases those only old claimed, so a
// party that drops a resource, or is suspended, frees it for another. It
// refuses to claim, with ErrInvalid, a resource another party holds, and,
// with ErrForbidden, one that is a region's DID or endpoint URL (the
// claims tell, as for an issuer's ID; a node takes a token for its own
// name as its own, never as a party's API): a resource names one party's
// API; and, with ErrForbidden, one on a host another region claims (a
// host of its record or of one of its issuer records, as for an issuer's
// ID or a credential type: the host is that region's; a resource whose
// host IDHost cannot read is ErrInvalid). A resource is checked when
// claimed, and a region's record cannot name one an active party holds
// (RegionInput.unclaimed): a party's suspension, which claims nothing,
// frees its resources for a region too, and enabling it again is then
// refused. A region that claims a host after another region's party
// claimed a resource on it is not refused (finding the resources on a
// host would take a range read): the party keeps that resource while it
// holds it, and claims no other there. It reads the claims of old's and
// in's resources and of their hosts only, never another party's record
// (a range read over every party, on every party's write, made them all
// conflict on Fabric). No chain holds resources of a contract older than
// their claims, so indexClaims stores none.
//
// It sets in.ResourcesSince from the claims: a resource the party held
// keeps its claim's time (zero on a claim an older contract wrote: none
// is set), one it takes takes the transaction's, so that introspection
// shows the party no token asked for the API before it took it (another
// party's, or its own of an earlier hold: SECURITY.md gap 27).
func (c *call) claimResources(old, in *RelyingParty) error {
	was, now := old.claimedResources(), in.claimedResources()
	since := make(map[string]time.Time, len(now)) // by claim name
	for _, name := range now {
		cl, err := c.claimOf(claimResource, name)
		if err != nil {
			return err
		} else if cl.Party == in.ClientID {
			since[name] = cl.Since
			continue
		}
		i := slices.IndexFunc(in.Resources, func(r string) bool { return claimKeyID(r) == name })
		if cl.Party != "" {
			return invalid("resource %d is registered by relying party %q of region %s", i, cl.Party, cl.Region)
		}
		if id, err := c.claimOf(claimID, name); err != nil {
			return err
		} else if r, ok := id.named(); ok {
			return fmt.Errorf("%w: resource %d %s", ErrForbidden, i, r.id())
		}
		host, ok := IDHost(name)
		if !ok {
			return invalid("resource %d: want an ASCII host (an internationalized name as its A-label) and a port up to 65535", i)
		}
		if h, err := c.claimOf(claimHost, host); err != nil {
			return err
		} else if o, ok := h.other(c.caller); ok {
			return fmt.Errorf("%w: resource %d is on %s", ErrForbidden, i, o.host(host))
		}
		if err := c.setClaim(claimResource, name, Claim{Region: c.caller, Party: in.ClientID, Since: c.now}); err != nil {
			return err
		}
		since[name] = c.now
	}
	in.ResourcesSince = nil
	for i, r := range in.Resources {
		if t := since[claimKeyID(r)]; !t.IsZero() {
			if in.ResourcesSince == nil {
				in.ResourcesSince = make([]time.Time, len(in.Resources))
			}
			in.ResourcesSince[i] = t
		}
	}
	for _, name := range was {
		if slices.Contains(now, name) {
			continue
		}
		if cl, err := c.claimOf(claimResource, name); err != nil {
			return err
		} else if cl.Party != in.ClientID {
			continue
		}
		if err := c.setClaim(claimResource, name, Claim{}); err != nil {
			return err
		}
	}
	return nil
}

// claimedResources returns the resources an active relying party claims,
// as claimKeyID spells them, without repeats; a suspended party claims
// none (its record keeps them: the token endpoint takes no API of a
// disabled client, and the party claims them again when it is enabled).
func (x *RelyingParty) claimedResources() []string {
	if x.Status != EntryActive {
		return nil
	}
	var names []string
	for _, r := range x.Resources {
		if k := claimKeyID(r); !slices.Contains(names, k) {
			names = append(names, k)
		}
	}
	return names
}

func getRP(c *call) (any, error) {
	var x RelyingParty
	return x, c.load(&x, objRP, c.arg(0))
}

func listRPs(c *call) (any, error) { return list[RelyingParty](c, objRP) }

// claimSector records that a relying party of the caller's region holds
// a pairwise sector. Claiming a sector the party already holds returns
// it unchanged, whichever region asks (another region's node checks so
// that the party it serves through federation holds its sector); a
// sector another party holds is refused with ErrExists; a party another
// region registered, whose sector its region has not claimed, with
// ErrForeignParty. A client ID not registered yet may be claimed, as a
// node claims a party's sector before it writes the party's record.
func claimSector(c *call) (any, error) {
	var in SectorClaim
	if err := decodeArg(c.args[0], &in); err != nil {
		return nil, err
	}
	if err := in.check(); err != nil {
		return nil, err
	}
	if _, err := c.activeCaller(); err != nil {
		return nil, err
	}
	home := c.caller
	var rp RelyingParty
	switch err := c.load(&rp, objRP, in.ClientID); {
	case err == nil:
		home = rp.HomeRegion
	case !errors.Is(err, ErrNotFound):
		return nil, err
	}
	var old Sector
	switch err := c.load(&old, objSector, in.Kind, in.Name); {
	case err == nil:
		if old.ClientID == in.ClientID && old.Region == home {
			return old, nil
		}
		return nil, fmt.Errorf("%w: %s %q is held by relying party %q of region %s", ErrExists, in.Kind, in.Name, old.ClientID, old.Region)
	case !errors.Is(err, ErrNotFound):
		return nil, err
	}
	if home != c.caller {
		return nil, fmt.Errorf("%w: relying party %q belongs to region %s", ErrForeignParty, in.ClientID, home)
	}
	out := Sector{Kind: in.Kind, Name: in.Name, ClientID: in.ClientID, Region: c.caller, Created: c.now}
	if err := c.save(out, objSector, in.Kind, in.Name); err != nil {
		return nil, err
	}
	return out, c.emit(EventRegistry, RegistryEvent{Kind: "sector", ID: in.Kind + ":" + in.Name, Region: c.caller, Action: "added"})
}

func getSector(c *call) (any, error) {
	var x Sector
	return x, c.load(&x, objSector, c.arg(0), c.arg(1))
}

func addTerminal(c *call) (any, error) { return writeTerminal(c, true) }
func putTerminal(c *call) (any, error) { return writeTerminal(c, false) }

// writeTerminal checks a terminal and stores it (create: a new ID only). A
// stored terminal keeps its key, and a revoked one is never written again.
func writeTerminal(c *call, create bool) (any, error) {
	var in Terminal
	if err := decodeArg(c.args[0], &in); err != nil {
		return nil, err
	}
	if err := checkID("terminal id", in.ID); err != nil {
		return nil, err
	}
	if !reToken.MatchString(in.Kind) {
		return nil, invalid("terminal kind %.64q", in.Kind)
	}
	if err := checkName(in.Name); err != nil {
		return nil, err
	}
	if in.Location != "" && (len(in.Location) != 6 || strings.Trim(in.Location, "0123456789") != "" || !provinces[in.Location[:2]]) {
		return nil, fmt.Errorf("%w: location %.64q is not a GB/T 2260 code under a known province", ErrUnknownRegion, in.Location)
	}
	if in.Location != "" && !InRegion(in.Location, c.caller) {
		return nil, fmt.Errorf("%w: region %s may not place a terminal in %s, outside it", ErrForbidden, c.caller, in.Location)
	}
	alg, err := checkJWK(in.Key)
	if err != nil {
		return nil, err
	}
	in.Key.Alg, in.Key.Use = alg, "sig"
	if in.Status != TerminalRevoked {
		if err := checkEntryStatus(in.Status); err != nil {
			return nil, invalid("status must be %q, %q or %q", EntryActive, EntrySuspended, TerminalRevoked)
		}
	}
	var old Terminal
	if err := c.load(&old, objTerminal, in.ID); err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	if err := c.mayWrite("terminal", in.ID, old.Region, old.ID != "", create); err != nil {
		return nil, err
	}
	switch {
	case old.ID == "":
	case old.Status == TerminalRevoked:
		return nil, fmt.Errorf("%w: terminal %q is revoked", ErrKeyTransition, in.ID)
	case old.Key.Kty != in.Key.Kty || old.Key.Crv != in.Key.Crv || old.Key.X != in.Key.X || old.Key.Y != in.Key.Y:
		return nil, fmt.Errorf("%w: terminal %q is registered with another key (a new key is a new terminal)", ErrMalformedKey, in.ID)
	}
	return putOwned(c, &in, "terminal", objTerminal, in.ID, create)
}

func getTerminal(c *call) (any, error) {
	var x Terminal
	return x, c.load(&x, objTerminal, c.arg(0))
}

func listTerminals(c *call) (any, error) { return list[Terminal](c, objTerminal) }

// --- status anchoring ---

func anchorBatch(c *call) (any, error) {
	var in BatchInput
	if err := decodeArg(c.args[0], &in); err != nil {
		return nil, err
	}
	if err := checkID("batch id", in.ID); err != nil {
		return nil, err
	}
	if !reHex256.MatchString(in.Root) {
		return nil, invalid("root must be 64 lowercase hex digits")
	}
	for _, l := range in.Lists {
		if err := CheckListID(l); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
	}
	b := Batch{ID: in.ID, Region: c.caller, Root: in.Root, Count: in.Count, Lists: nonNil(in.Lists), Changes: in.Changes, Time: c.now, Tx: c.st.TxID()}
	if _, err := DecodeBatch(b); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	var old Batch
	err := c.load(&old, objBatch, c.caller, in.ID)
	switch {
	case err == nil:
		if old.Root == b.Root && old.Count == b.Count && slices.Equal(old.Lists, b.Lists) && old.Changes == b.Changes {
			return BatchResult{Batch: old, Replayed: true}, nil
		}
		return nil, fmt.Errorf("%w: %s/%s", ErrBatchConflict, c.caller, in.ID)
	case !errors.Is(err, ErrNotFound):
		return nil, err
	}
	if _, err := c.activeCaller(); err != nil {
		return nil, err
	}
	if err := c.save(b, objBatch, c.caller, in.ID); err != nil {
		return nil, err
	}
	return BatchResult{Batch: b}, c.emit(EventStatusBatch, b)
}

func getBatch(c *call) (any, error) {
	var b Batch
	return b, c.load(&b, objBatch, c.arg(0), c.arg(1))
}

func putStatusHeads(c *call) (any, error) {
	var in []HeadInput
	if err := decodeArg(c.args[0], &in); err != nil {
		return nil, err
	}
	if len(in) == 0 || len(in) > MaxHeads {
		return nil, invalid("1 to %d heads per transaction", MaxHeads)
	}
	seen := map[string]bool{}
	for _, h := range in {
		if err := CheckListID(h.List); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		if seen[h.List] {
			return nil, invalid("list %q repeated", h.List)
		}
		seen[h.List] = true
		if !reHex256.MatchString(h.Digest) {
			return nil, invalid("digest of %q must be 64 lowercase hex digits (SM3)", h.List)
		}
		if h.Version == 0 {
			return nil, invalid("versions start at 1")
		}
	}
	if _, err := c.activeCaller(); err != nil {
		return nil, err
	}
	ev := HeadsEvent{Region: c.caller, Heads: []StatusHead{}}
	added, size := 0, 0 // the new lists' heads, counted (MaxRegionBytes)
	for _, h := range in {
		var old StatusHead
		err := c.load(&old, objHead, c.caller, h.List)
		switch {
		case err == nil && old.Version == h.Version && old.Digest == h.Digest:
			continue // already anchored
		case err == nil && old.Version == h.Version:
			return nil, fmt.Errorf("%w: list %q version %d", ErrHeadConflict, h.List, h.Version)
		case err == nil && old.Version > h.Version:
			return nil, fmt.Errorf("%w: list %q is at version %d, not %d", ErrStale, h.List, old.Version, h.Version)
		case err != nil && !errors.Is(err, ErrNotFound):
			return nil, err
		}
		isNew := err != nil // not found
		head := StatusHead{Region: c.caller, List: h.List, Version: h.Version, Digest: h.Digest, Updated: c.now, Tx: c.st.TxID()}
		n, err := c.saveSized(head, objHead, c.caller, h.List)
		if err != nil {
			return nil, err
		}
		if isNew {
			added, size = added+1, size+n
		}
		ev.Heads = append(ev.Heads, head)
	}
	if len(ev.Heads) == 0 {
		return ev, nil
	}
	if err := c.count(added, int64(size), false); err != nil {
		return nil, err
	}
	return ev, c.emit(EventStatusHeads, ev)
}

func getStatusHead(c *call) (any, error) {
	var h StatusHead
	return h, c.load(&h, objHead, c.arg(0), c.arg(1))
}

func listStatusHeads(c *call) (any, error) { return list[StatusHead](c, objHead, c.arg(0)) }

// --- audit anchors ---

func anchorAudit(c *call) (any, error) {
	var in AuditInput
	if err := decodeArg(c.args[0], &in); err != nil {
		return nil, err
	}
	if !reToken.MatchString(in.Node) {
		return nil, invalid("node %.64q: want letters, digits and ._:/- (at most 128)", in.Node)
	}
	if !reHex256.MatchString(in.Head) {
		return nil, invalid("head must be 64 lowercase hex digits (SM3)")
	}
	if err := in.Pruned.check(in.Seq); err != nil {
		return nil, err
	}
	if _, err := c.activeCaller(); err != nil {
		return nil, err
	}
	var old AuditAnchor
	err := c.load(&old, objAudit, c.caller, in.Node)
	switch {
	case err == nil && old.Seq == in.Seq && old.Head != in.Head:
		return nil, fmt.Errorf("%w: audit log of %s/%s forks at %d", ErrHeadConflict, c.caller, in.Node, in.Seq)
	case err == nil && old.Seq > in.Seq:
		return nil, fmt.Errorf("%w: audit log of %s/%s is anchored at %d", ErrStale, c.caller, in.Node, old.Seq)
	case err != nil && !errors.Is(err, ErrNotFound):
		return nil, err
	}
	p, was := in.Pruned, old.Pruned
	switch {
	case p.Seq == 0:
		p = was // a head alone keeps the record of the pruning
	case was.Seq > p.Seq:
		return nil, fmt.Errorf("%w: audit log of %s/%s is recorded pruned through %d", ErrStale, c.caller, in.Node, was.Seq)
	case was.Seq == p.Seq && was.Head != p.Head:
		return nil, fmt.Errorf("%w: audit log of %s/%s was pruned through %d with another head", ErrHeadConflict, c.caller, in.Node, p.Seq)
	case was.Seq == p.Seq:
		p = was
	}
	if err == nil && old.Seq == in.Seq && p.Seq == was.Seq {
		return old, nil
	}
	a := AuditAnchor{Region: c.caller, Node: in.Node, Seq: in.Seq, Head: in.Head, Time: c.now, Tx: c.st.TxID(), Pruned: p}
	if err := c.save(a, objAudit, c.caller, in.Node); err != nil {
		return nil, err
	}
	return a, c.emit(EventAudit, a)
}

// check validates a pruning record sent with the head at seq: none, or
// one through an entry before seq with its hash and the times of the
// first and last entries deleted.
func (p AuditPrune) check(seq uint64) error {
	switch {
	case p == AuditPrune{}:
		return nil
	case p.Seq == 0 || p.Seq >= seq:
		return invalid("pruned.seq %d: want an entry before the head's, %d", p.Seq, seq)
	case !reHex256.MatchString(p.Head):
		return invalid("pruned.head must be 64 lowercase hex digits (SM3)")
	case p.From.IsZero() || p.To.IsZero():
		// Not checked in order: they are the node's clock, which may
		// have stepped back between the two entries.
		return invalid("pruned.from and pruned.to: want the deleted entries' first and last times")
	}
	return nil
}

func getAuditAnchor(c *call) (any, error) {
	var a AuditAnchor
	return a, c.load(&a, objAudit, c.arg(0), c.arg(1))
}

func listAuditAnchors(c *call) (any, error) { return list[AuditAnchor](c, objAudit, c.arg(0)) }

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
