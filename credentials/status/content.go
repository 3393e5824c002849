package status

import (
	"encoding/binary"
	"errors"
)

// ContentTag starts the canonical content of a list (Content).
const ContentTag = "trustid-statuslist-v1"

// ErrContent: a list ID or purpose too long for the canonical content.
var ErrContent = errors.New("status: list ID or purpose too long")

// Body is a Bitstring or a TokenList.
type Body interface {
	Len() int
	AppendBinary([]byte) ([]byte, error)
}

// Content returns the canonical bytes a list head's digest covers (the
// ledger anchors chaincode.ListDigest of them):
//
//	"trustid-statuslist-v1" || 0x00 || u16be(len(list ID)) || list ID
//	|| u16be(len(purpose)) || purpose || u64be(version)
//	|| u8(bits per status) || u32be(number of statuses) || the list's bytes
func Content(listID, purpose string, version uint64, bitsPer int, body Body) ([]byte, error) {
	if len(listID) > 256 || len(purpose) > 64 {
		return nil, ErrContent
	}
	b := make([]byte, 0, 64+len(listID)+len(purpose)+body.Len()*bitsPer/8)
	b = append(b, ContentTag...)
	b = append(b, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(len(listID)))
	b = append(b, listID...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(purpose)))
	b = append(b, purpose...)
	b = binary.BigEndian.AppendUint64(b, version)
	b = append(b, byte(bitsPer))
	b = binary.BigEndian.AppendUint32(b, uint32(body.Len()))
	return body.AppendBinary(b)
}

// Content returns the snapshot's canonical content (see Content).
func (s Snapshot) Content() ([]byte, error) {
	switch {
	case s.Bitstring != nil:
		return Content(s.ID, s.Purpose, s.Version, 1, s.Bitstring)
	case s.Token != nil:
		return Content(s.ID, s.Purpose, s.Version, s.Token.Bits(), s.Token)
	}
	return nil, errors.New("status: empty snapshot")
}
