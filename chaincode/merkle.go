package chaincode

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"

	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/gm"
)

// StatusChange is one change of a status-list entry: entry Index of list
// List now has status Status (the status list's own value: for a Bitstring
// Status List 1 = set; for a Token Status List 0 valid, 1 invalid,
// 2 suspended).
type StatusChange struct {
	List   string `json:"list"`
	Index  uint64 `json:"index"`
	Status uint8  `json:"status"`
}

// Limits of status anchoring.
const (
	MaxListID       = 256
	MaxBatchChanges = 50000
)

// Errors of status changes and batches.
var (
	ErrBadList       = errors.New("chaincode: invalid status list ID (16 lower-case hex digits, as nodes make them)")
	ErrEmptyBatch    = errors.New("chaincode: a status batch holds at least one change")
	ErrBatchTooLarge = fmt.Errorf("chaincode: a status batch holds at most %d changes", MaxBatchChanges)
	ErrBadEncoding   = errors.New("chaincode: malformed compact change records")
)

// CheckListID refuses, with ErrBadList, a status list ID other than
// those nodes make (status.ValidListID: 16 lower-case hex digits), the
// only form a node fetches a list by (a QR status reference names a list
// by its first 32 bits): no path, query or fragment to append to a
// region's endpoint. AnchorBatch and PutStatusHeads take no other, and
// the outbox accepts no other.
func CheckListID(id string) error {
	if !status.ValidListID(id) {
		return fmt.Errorf("%w: %.64q", ErrBadList, id)
	}
	return nil
}

// anchoredListID reports whether id is a list ID an anchored batch may
// hold: 1 to MaxListID printable ASCII characters without spaces, which
// an older contract took (DecodeChanges reads its batches still).
func anchoredListID(id string) bool {
	if len(id) == 0 || len(id) > MaxListID {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= 0x20 || id[i] >= 0x7f {
			return false
		}
	}
	return true
}

// The Merkle tree over a batch's changes is RFC 9162's (section 2.1.1) with
// SM3 and TrustID's leaf encoding:
//
//	leaf  = SM3(0x00 || "trustid-status-v1" || u16be(len(list)) || list || u64be(index) || status)
//	node  = SM3(0x01 || left || right)
//	root(D[0:n]) = leaf(D[0]) when n = 1, else node(root(D[0:k]), root(D[k:n]))
//	               with k the largest power of two smaller than n.
//
// The 0x00/0x01 prefixes keep leaves and inner nodes apart; the tag keeps
// these leaves apart from any other SM3 Merkle tree. An empty batch has no
// root.
const leafTag = "trustid-status-v1"

// LeafHash returns the Merkle leaf hash of c.
func LeafHash(c StatusChange) [gm.SM3Size]byte {
	buf := make([]byte, 0, 1+len(leafTag)+2+len(c.List)+9)
	buf = append(buf, 0x00)
	buf = append(buf, leafTag...)
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(c.List)))
	buf = append(buf, c.List...)
	buf = binary.BigEndian.AppendUint64(buf, c.Index)
	buf = append(buf, c.Status)
	return gm.SM3(buf)
}

func nodeHash(l, r [gm.SM3Size]byte) [gm.SM3Size]byte {
	var buf [1 + 2*gm.SM3Size]byte
	buf[0] = 0x01
	copy(buf[1:], l[:])
	copy(buf[1+gm.SM3Size:], r[:])
	return gm.SM3(buf[:])
}

// MerkleRoot returns the root over changes, in order.
func MerkleRoot(changes []StatusChange) ([gm.SM3Size]byte, error) {
	if len(changes) == 0 {
		return [gm.SM3Size]byte{}, ErrEmptyBatch
	}
	leaves := make([][gm.SM3Size]byte, len(changes))
	for i, c := range changes {
		leaves[i] = LeafHash(c)
	}
	return rootOf(leaves), nil
}

// largestPow2Below returns the largest power of two smaller than n (n > 1).
func largestPow2Below(n int) int { return 1 << (bits.Len(uint(n-1)) - 1) }

func rootOf(h [][gm.SM3Size]byte) [gm.SM3Size]byte {
	if len(h) == 1 {
		return h[0]
	}
	k := largestPow2Below(len(h))
	return nodeHash(rootOf(h[:k]), rootOf(h[k:]))
}

// InclusionProof returns the audit path of changes[i] (RFC 9162 2.1.3.1).
func InclusionProof(changes []StatusChange, i int) ([][gm.SM3Size]byte, error) {
	if i < 0 || i >= len(changes) {
		return nil, fmt.Errorf("chaincode: leaf %d out of range [0,%d)", i, len(changes))
	}
	leaves := make([][gm.SM3Size]byte, len(changes))
	for j, c := range changes {
		leaves[j] = LeafHash(c)
	}
	return path(leaves, i), nil
}

func path(h [][gm.SM3Size]byte, m int) [][gm.SM3Size]byte {
	if len(h) == 1 {
		return nil
	}
	k := largestPow2Below(len(h))
	if m < k {
		return append(path(h[:k], m), rootOf(h[k:]))
	}
	return append(path(h[k:], m-k), rootOf(h[:k]))
}

// ErrProof reports an inclusion proof that does not lead to the root.
var ErrProof = errors.New("chaincode: Merkle inclusion proof does not match the root")

// VerifyInclusion checks that c is leaf i of a tree of n leaves with the
// given root (RFC 9162 2.1.3.2).
func VerifyInclusion(c StatusChange, i, n uint64, proof [][gm.SM3Size]byte, root [gm.SM3Size]byte) error {
	if i >= n {
		return ErrProof
	}
	fn, sn := i, n-1
	r := LeafHash(c)
	for _, p := range proof {
		if sn == 0 {
			return ErrProof
		}
		if fn&1 == 1 || fn == sn {
			r = nodeHash(p, r)
			if fn&1 == 0 {
				for fn&1 == 0 && fn != 0 {
					fn >>= 1
					sn >>= 1
				}
			}
		} else {
			r = nodeHash(r, p)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 || r != root {
		return ErrProof
	}
	return nil
}

// EncodeChanges packs changes compactly: the distinct list IDs in order of
// first appearance, and for each change uvarint(list position),
// uvarint(index), status byte.
func EncodeChanges(changes []StatusChange) (lists []string, packed []byte) {
	pos := map[string]uint64{}
	packed = make([]byte, 0, len(changes)*6)
	for _, c := range changes {
		p, ok := pos[c.List]
		if !ok {
			p = uint64(len(lists))
			pos[c.List] = p
			lists = append(lists, c.List)
		}
		packed = binary.AppendUvarint(packed, p)
		packed = binary.AppendUvarint(packed, c.Index)
		packed = append(packed, c.Status)
	}
	return lists, packed
}

// DecodeChanges reverses EncodeChanges strictly: count changes exactly, no
// trailing bytes, minimal varints, every list used.
func DecodeChanges(lists []string, packed []byte, count int) ([]StatusChange, error) {
	if count <= 0 {
		return nil, ErrEmptyBatch
	}
	if count > MaxBatchChanges {
		return nil, ErrBatchTooLarge
	}
	seen := make(map[string]bool, len(lists))
	for _, l := range lists {
		if !anchoredListID(l) {
			return nil, fmt.Errorf("%w: list ID %.64q", ErrBadEncoding, l)
		}
		if seen[l] {
			return nil, fmt.Errorf("%w: list %q repeated", ErrBadEncoding, l)
		}
		seen[l] = true
	}
	out := make([]StatusChange, 0, count)
	used := make([]bool, len(lists))
	next := 0 // lists appear in order of first use
	for len(out) < count {
		p, n := uvarint(packed)
		if n <= 0 || p >= uint64(len(lists)) {
			return nil, fmt.Errorf("%w: change %d: list reference", ErrBadEncoding, len(out))
		}
		packed = packed[n:]
		idx, n := uvarint(packed)
		if n <= 0 {
			return nil, fmt.Errorf("%w: change %d: index", ErrBadEncoding, len(out))
		}
		packed = packed[n:]
		if len(packed) == 0 {
			return nil, fmt.Errorf("%w: change %d: status", ErrBadEncoding, len(out))
		}
		st := packed[0]
		packed = packed[1:]
		if !used[p] {
			if int(p) != next {
				return nil, fmt.Errorf("%w: lists not in order of first use", ErrBadEncoding)
			}
			used[p] = true
			next++
		}
		out = append(out, StatusChange{List: lists[p], Index: idx, Status: st})
	}
	if len(packed) != 0 {
		return nil, fmt.Errorf("%w: trailing bytes", ErrBadEncoding)
	}
	if next != len(lists) {
		return nil, fmt.Errorf("%w: unused list IDs", ErrBadEncoding)
	}
	return out, nil
}

// uvarint decodes a minimal uvarint (no redundant 0x80 padding).
func uvarint(b []byte) (uint64, int) {
	v, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, n
	}
	if n > 1 && b[n-1] == 0 {
		return 0, -1
	}
	return v, n
}
