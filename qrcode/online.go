package qrcode

import (
	"crypto/rand"
	"fmt"
	"io"
)

var defaultRand = rand.Reader

// RefSize is the size of an online code's reference: 128 random bits.
const RefSize = 16

// OnlineCode is the content of an online dynamic code: the issuing region
// and an opaque, random, single-use reference. Nothing else: the record it
// points to stays at the issuing node.
type OnlineCode struct {
	Region uint32
	Ref    [RefSize]byte
}

type onlineWire struct {
	_      struct{} `cbor:",toarray"`
	Region uint32
	Ref    []byte
}

// String returns the text form, prefix "TIDON1:".
func (c OnlineCode) String() string {
	return sealText(KindOnline, marshal(onlineWire{Region: c.Region, Ref: c.Ref[:]}))
}

// DecodeOnline parses an online code's text strictly.
func DecodeOnline(text string) (OnlineCode, error) {
	raw, err := openText(text, KindOnline)
	if err != nil {
		return OnlineCode{}, err
	}
	var w onlineWire
	if err := unmarshal(raw, &w, "online code"); err != nil {
		return OnlineCode{}, err
	}
	if !validRegionCode(w.Region) {
		return OnlineCode{}, malformed("online code: region %d", w.Region)
	}
	if len(w.Ref) != RefSize {
		return OnlineCode{}, malformed("online code: reference must be %d bytes", RefSize)
	}
	c := OnlineCode{Region: w.Region}
	copy(c.Ref[:], w.Ref)
	return c, nil
}

// RegionString returns the region as six digits.
func (c OnlineCode) RegionString() string { return regionString(c.Region) }

// NewOnlineCode draws a fresh online code for region, its reference from
// rnd (the node's redemption service issues them).
func NewOnlineCode(rnd io.Reader, region uint32) (OnlineCode, error) {
	c := OnlineCode{Region: region}
	if _, err := io.ReadFull(rnd, c.Ref[:]); err != nil {
		return c, fmt.Errorf("%w: random reference: %v", ErrUnavailable, err)
	}
	return c, nil
}
