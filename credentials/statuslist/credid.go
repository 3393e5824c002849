package statuslist

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"slices"
	"strings"
	"sync"

	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/internal/b64url"
)

// CredentialIDs makes and reads credential IDs that carry the credential's
// status entries and its owner, so that any instance of a region finds
// them, and checks who may change them, without an index:
//
//	"urn:trustid:vc:" base64url( payload || MAC )
//	payload = 0x01 || member || owner(8) || n lists || each list ID (8 bytes)
//	          || n refs || each ref: list number, purpose number, uvarint index
//	owner   = HMAC-SHA256(key, "trustid credential owner" 0x00 owner tag)[:8]
//	MAC     = HMAC-SHA256(key, "trustid credential id" 0x00 payload)[:16]
//
// under a region key every instance holds (the keystore secret named
// CredentialIDSecret). member tells apart the credentials of one group,
// which share their entries. The ID shows the list and index the
// credential's status entries show anyway, and no client in clear. Safe
// for concurrent use.
type CredentialIDs struct {
	key []byte
	// macs holds keyed HMAC states, reset between uses: keying one costs
	// two SHA-256 blocks and five allocations, and a status change reads
	// its ID and owner tag three times.
	macs sync.Pool
}

// CredentialIDSecret names the keystore secret that keys credential IDs.
const CredentialIDSecret = "credential-id"

// CredentialIDPrefix starts every credential ID CredentialIDs makes.
const CredentialIDPrefix = "urn:trustid:vc:"

// ErrCredentialID: a credential ID is not one this region made (malformed,
// or its MAC does not match). It matches status.ErrNotFound.
var ErrCredentialID = fmt.Errorf("%w: not a credential ID of this region", status.ErrNotFound)

// NewCredentialIDs returns the codec under key (16 to 64 bytes).
func NewCredentialIDs(key []byte) (*CredentialIDs, error) {
	if len(key) < 16 || len(key) > 64 {
		return nil, errors.New("statuslist: credential ID key must be 16 to 64 bytes")
	}
	c := &CredentialIDs{key: slices.Clone(key)}
	c.macs.New = func() any { return hmac.New(sha256.New, c.key) }
	return c, nil
}

var purposeNumbers = []string{status.PurposeRevocation, status.PurposeSuspension, status.PurposeToken}

const maxIDRefs = 16

func (c *CredentialIDs) mac(label string, parts ...[]byte) []byte {
	m := c.macs.Get().(hash.Hash)
	m.Reset()
	m.Write([]byte(label))
	m.Write([]byte{0})
	for _, p := range parts {
		m.Write(p)
	}
	out := m.Sum(nil)
	c.macs.Put(m)
	return out
}

func (c *CredentialIDs) ownerTag(owner string) []byte {
	return c.mac("trustid credential owner", []byte(owner))[:8]
}

// Make returns the ID of the member-th credential of a group owned by owner
// (an opaque tag; "" for none) with status entries refs.
func (c *CredentialIDs) Make(member int, owner string, refs []status.Ref) (string, error) {
	if member < 0 || member > 255 || len(refs) == 0 || len(refs) > maxIDRefs {
		return "", errors.New("statuslist: a credential ID carries 1 to 16 entries and a member number to 255")
	}
	return c.encode(CredentialIDPrefix, 1, byte(member), c.ownerTag(owner), refs, nil)
}

// encode makes an ID: prefix, then base64url of version || member ||
// owner tag || lists || refs || tail || MAC (see CredentialIDs; tail is
// empty but in version 3 enrollment IDs).
func (c *CredentialIDs) encode(prefix string, version, member byte, owner []byte, refs []status.Ref, tail []byte) (string, error) {
	var lists []string
	p := []byte{version, member}
	p = append(p, owner...)
	for _, r := range refs {
		if !slices.Contains(lists, r.ListID) {
			lists = append(lists, r.ListID)
		}
	}
	p = append(p, byte(len(lists)))
	for _, l := range lists {
		b, err := hex.DecodeString(l)
		if err != nil || !status.ValidListID(l) {
			return "", fmt.Errorf("statuslist: list ID %q", l)
		}
		p = append(p, b...)
	}
	p = append(p, byte(len(refs)))
	for _, r := range refs {
		pn := slices.Index(purposeNumbers, r.Purpose)
		if pn < 0 || r.Index < 0 {
			return "", fmt.Errorf("%w: %q", ErrPurpose, r.Purpose)
		}
		p = append(p, byte(slices.Index(lists, r.ListID)), byte(pn))
		p = binary.AppendUvarint(p, uint64(r.Index))
	}
	p = append(p, tail...)
	p = append(p, c.mac("trustid credential id", p)[:16]...)
	return prefix + base64.RawURLEncoding.EncodeToString(p), nil
}

// Read returns the owner tag check and the entries of an ID made by Make;
// an ID not made under this key gives ErrCredentialID.
func (c *CredentialIDs) Read(id string) (refs []status.Ref, owner []byte, err error) {
	_, _, refs, owner, tail, err := c.decode(id, CredentialIDPrefix, 1)
	if err == nil && len(tail) != 0 {
		return nil, nil, ErrCredentialID
	}
	return refs, owner, err
}

// decode reads an ID encode made with prefix and one of versions; tail is
// what follows the refs.
func (c *CredentialIDs) decode(id, prefix string, versions ...byte) (version, member byte, refs []status.Ref, owner, tail []byte, err error) {
	enc, ok := strings.CutPrefix(id, prefix)
	if !ok || len(enc) > maxIDChars {
		return 0, 0, nil, nil, nil, ErrCredentialID
	}
	b, err := b64url.DecodeString(enc)
	if err != nil || len(b) < 2+8+1+16 {
		return 0, 0, nil, nil, nil, ErrCredentialID
	}
	p, mac := b[:len(b)-16], b[len(b)-16:]
	if !hmac.Equal(mac, c.mac("trustid credential id", p)[:16]) || !slices.Contains(versions, p[0]) {
		return 0, 0, nil, nil, nil, ErrCredentialID
	}
	version, member, owner, p = p[0], p[1], p[2:10], p[10:]
	n := int(p[0])
	p = p[1:]
	if len(p) < 8*n+1 {
		return 0, 0, nil, nil, nil, ErrCredentialID
	}
	lists := make([]string, n)
	for i := range lists {
		lists[i] = hex.EncodeToString(p[8*i : 8*i+8])
	}
	p = p[8*n:]
	nr := int(p[0])
	p = p[1:]
	for range nr {
		if len(p) < 3 || int(p[0]) >= n || int(p[1]) >= len(purposeNumbers) {
			return 0, 0, nil, nil, nil, ErrCredentialID
		}
		l, pn := lists[p[0]], purposeNumbers[p[1]]
		idx, k := binary.Uvarint(p[2:])
		if k <= 0 || idx > status.MaxEntries {
			return 0, 0, nil, nil, nil, ErrCredentialID
		}
		p = p[2+k:]
		refs = append(refs, status.Ref{ListID: l, Index: int(idx), Purpose: pn})
	}
	if len(refs) == 0 {
		return 0, 0, nil, nil, nil, ErrCredentialID
	}
	return version, member, refs, owner, p, nil
}

// EnrollmentIDPrefix starts every enrollment ID MakeEnrollment makes.
const EnrollmentIDPrefix = "urn:trustid:enrollment:"

// MaxEnrollmentID bounds the length of an enrollment ID MakeEnrollment
// makes: 16 copies of 3 entries each, in the at most 6 lists (a purpose's
// list filling up in mid-enrollment) that many entries can span, take
// about 460 characters.
const MaxEnrollmentID = 512

// maxIDChars bounds the base64 part of an ID Read or an enrollment read
// accepts.
const maxIDChars = MaxEnrollmentID - len(EnrollmentIDPrefix)

// MakeEnrollment returns the ID of an enrollment owned by owner whose
// copies are groups of credentials with the entries copies (at most 16
// copies of 1 to 3 entries each): the same encoding as a credential ID,
// with the number of copies for member and the entries of every copy in
// order; version 2 when every copy has as many entries, else version 3,
// whose tail is each copy's number of entries (one byte a copy: a phone's
// copy and a printed code's copy differ). Any instance of the region reads
// it (EnrollmentCredentials), so that nothing is kept per enrollment.
func (c *CredentialIDs) MakeEnrollment(owner string, copies [][]status.Ref) (string, error) {
	if len(copies) == 0 || len(copies) > 16 {
		return "", errors.New("statuslist: an enrollment ID carries 1 to 16 copies")
	}
	var refs []status.Ref
	version, shape := byte(2), make([]byte, 0, len(copies))
	for _, cp := range copies {
		if len(cp) == 0 || len(cp) > 3 {
			return "", errors.New("statuslist: every copy of an enrollment ID has 1 to 3 entries")
		}
		if len(cp) != len(copies[0]) {
			version = 3
		}
		refs = append(refs, cp...)
		shape = append(shape, byte(len(cp)))
	}
	if version == 2 {
		shape = nil
	}
	id, err := c.encode(EnrollmentIDPrefix, version, byte(len(copies)), c.ownerTag(owner), refs, shape)
	if err == nil && len(id) > MaxEnrollmentID {
		return "", errors.New("statuslist: the enrollment's entries are in too many lists for one enrollment ID")
	}
	return id, err
}

// EnrollmentCredentials returns, for each copy of an enrollment ID made by
// MakeEnrollment, the IDs Make gave the copy's credentials (members 0, 1,
// …: one per token or revocation entry, the one entry of a credential of
// that purpose; the same owner; the copy's entries). Changing the status
// of any of them changes the copy's whole group. An ID not made under
// this key gives ErrCredentialID.
func (c *CredentialIDs) EnrollmentCredentials(id string) ([][]string, error) {
	version, n, refs, owner, tail, err := c.decode(id, EnrollmentIDPrefix, 2, 3)
	if err != nil || n == 0 {
		return nil, ErrCredentialID
	}
	sizes := make([]int, n)
	switch {
	case version == 2 && len(tail) == 0 && len(refs)%int(n) == 0:
		for i := range sizes {
			sizes[i] = len(refs) / int(n)
		}
	case version == 3 && len(tail) == int(n):
		total := 0
		for i, b := range tail {
			if b == 0 || b > 3 {
				return nil, ErrCredentialID
			}
			sizes[i] = int(b)
			total += int(b)
		}
		if total != len(refs) {
			return nil, ErrCredentialID
		}
	default:
		return nil, ErrCredentialID
	}
	out := make([][]string, n)
	for i := range out {
		group := refs[:sizes[i]]
		refs = refs[sizes[i]:]
		for _, r := range group {
			if r.Purpose == status.PurposeSuspension {
				continue
			}
			id, err := c.encode(CredentialIDPrefix, 1, byte(len(out[i])), owner, group, nil)
			if err != nil {
				return nil, err
			}
			out[i] = append(out[i], id)
		}
	}
	return out, nil
}

// ChosenKey returns the key under which the ledger binds a credential ID
// a request chose: hex HMAC-SHA256(key, "trustid chosen credential id"
// 0x00 id). The ledger never holds the ID, which is client text (it may
// be guessable, or personal).
func (c *CredentialIDs) ChosenKey(id string) string {
	return hex.EncodeToString(c.mac("trustid chosen credential id", []byte(id)))
}

// BindingValue encodes the entries and owner of a credential ID a request
// chose as Make encodes a minted ID's (member 0), without the prefix: the
// value the ledger binds to ChosenKey.
func (c *CredentialIDs) BindingValue(owner string, refs []status.Ref) (string, error) {
	id, err := c.Make(0, owner, refs)
	return strings.TrimPrefix(id, CredentialIDPrefix), err
}

// ReadBinding reads a value BindingValue made (ErrCredentialID if it was
// not made under this key).
func (c *CredentialIDs) ReadBinding(value string) (refs []status.Ref, owner []byte, err error) {
	return c.Read(CredentialIDPrefix + value)
}

// Fingerprint names the key without revealing it (8 hex digits), so that
// operators can check that every instance of a region has the same one.
func (c *CredentialIDs) Fingerprint() string {
	return hex.EncodeToString(c.mac("trustid credential id key fingerprint")[:4])
}

// Owned reports whether the ID (read by Read) is owned by owner.
func (c *CredentialIDs) Owned(idOwner []byte, owner string) bool {
	return hmac.Equal(idOwner, c.ownerTag(owner))
}
