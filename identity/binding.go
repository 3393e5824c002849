package identity

import (
	"crypto/cipher"
	"errors"
	"fmt"
	"io"

	"github.com/emmansun/gmsm/sm4"

	"github.com/trustid-cn/trustid/gm"
)

// BindingSector is the fixed internal sector under which a symbol's
// binding subject is derived.
const BindingSector = "trustid:binding"

// BindingSubjectSize is the size of a binding subject: the pairwise key
// version and the 160-bit MAC of PairwiseID.
const BindingSubjectSize = 1 + SymbolSize

// BindingHandleSize is the size of a per-copy subject handle: the
// pairwise key version, a 12-byte nonce and the subject's 160-bit MAC
// encrypted.
const BindingHandleSize = 1 + handleNonceSize + SymbolSize

const (
	handleNonceSize = 12
	handleKeyLabel  = "binding-handle"
)

// BindingSubjects derives the subject of a holder's device bindings and
// credentials, the per-copy handles that stand for it in what the holder
// shows, and relying parties' pairwise IDs.
//
// The subject is the pairwise ID of the symbol under the internal sector
// BindingSector, as bytes (key version ‖ MAC, BindingSubjectSize bytes):
// the same person gets the same subject on every enrollment. It appears in
// no credential and no code. Each copy of an enrollment names a handle
// instead (Handle): the subject encrypted under a key derived from the
// pairwise key with a fresh nonce, so two handles of one person look
// unrelated to anyone without the pairwise key, and the nodes (which hold
// it) recover the subject. A relying party's ID for online redemption is
// the pairwise ID of the subject under the party's sector: stable per
// party whichever copy the holder used, unlinkable across parties. It is
// the node's qrcode.PairwiseDeriver and is safe for concurrent use.
type BindingSubjects struct {
	p *PairwiseDeriver
	// blocks are the handle ciphers of the deriver's key versions
	// (SM4 under DeriveKey(v, "binding-handle")), keyed once.
	blocks map[byte]cipher.Block
}

// NewBindingSubjects uses the national pairwise key's deriver.
func NewBindingSubjects(p *PairwiseDeriver) (*BindingSubjects, error) {
	if p == nil {
		return nil, errors.New("identity: binding subjects need a pairwise deriver")
	}
	b := &BindingSubjects{p: p, blocks: map[byte]cipher.Block{}}
	for _, k := range p.keys {
		blk, err := b.handleBlock(k.ver)
		if err != nil {
			return nil, err
		}
		b.blocks[k.ver] = blk
	}
	return b, nil
}

// Subject returns the binding subject of sym.
func (b *BindingSubjects) Subject(sym Symbol) ([]byte, error) {
	id, err := b.p.Derive(sym, Sector{Kind: SectorInternal, Name: BindingSector})
	if err != nil {
		return nil, err
	}
	return append([]byte{id.x.ver}, id.x.mac[:]...), nil
}

// handleStream is the SM4-CTR key stream of a handle: key derived from
// the pairwise key version, IV the nonce and a zero counter.
func (b *BindingSubjects) handleStream(version byte, nonce []byte) (cipher.Stream, error) {
	blk, ok := b.blocks[version]
	if !ok {
		return nil, ErrUnknownKeyVersion // as DeriveKey says
	}
	iv := make([]byte, sm4.BlockSize)
	copy(iv, nonce)
	return cipher.NewCTR(blk, iv), nil
}

// handleBlock keys SM4 for the handles of key version v.
func (b *BindingSubjects) handleBlock(v byte) (cipher.Block, error) {
	k, err := b.p.DeriveKey(int(v), handleKeyLabel)
	if err != nil {
		return nil, err
	}
	return sm4.NewCipher(k[:gm.SM4KeySize])
}

// Handle returns a fresh handle for subject (Subject's result): version ‖
// nonce ‖ SM4-CTR(K_v, nonce ‖ 0³², MAC), with K_v the first 16 bytes of
// the pairwise key's DeriveKey(v, "binding-handle"). The handle is not
// authenticated by itself: it travels only inside issuer-signed bindings
// and credentials.
func (b *BindingSubjects) Handle(subject []byte, rnd io.Reader) ([]byte, error) {
	if len(subject) != BindingSubjectSize {
		return nil, fmt.Errorf("%w: binding subject must be %d bytes", ErrIdentifierLength, BindingSubjectSize)
	}
	h := make([]byte, BindingHandleSize)
	h[0] = subject[0]
	if _, err := io.ReadFull(rnd, h[1:1+handleNonceSize]); err != nil {
		return nil, fmt.Errorf("identity: handle nonce: %w", err)
	}
	st, err := b.handleStream(h[0], h[1:1+handleNonceSize])
	if err != nil {
		return nil, err
	}
	st.XORKeyStream(h[1+handleNonceSize:], subject[1:])
	return h, nil
}

// Open returns the binding subject a handle stands for.
func (b *BindingSubjects) Open(handle []byte) ([]byte, error) {
	if len(handle) != BindingHandleSize {
		return nil, fmt.Errorf("%w: a subject handle is %d bytes", ErrIdentifierLength, BindingHandleSize)
	}
	st, err := b.handleStream(handle[0], handle[1:1+handleNonceSize])
	if err != nil {
		return nil, err
	}
	subject := make([]byte, BindingSubjectSize)
	subject[0] = handle[0]
	st.XORKeyStream(subject[1:], handle[1+handleNonceSize:])
	return subject, nil
}

// Pairwise is the pairwise ID (text form) for a relying party's sector
// (never an internal one) of the holder whose copy carries handle: the
// node's qrcode.PairwiseDeriver.
func (b *BindingSubjects) Pairwise(handle []byte, sector Sector) (string, error) {
	if sector.Kind == SectorInternal {
		return "", ErrInvalidSector
	}
	subject, err := b.Open(handle)
	if err != nil {
		return "", err
	}
	if subject[0] == 0 || subject[0] > MaxKeyVersion {
		return "", fmt.Errorf("%w: binding subject must be %d bytes with a key version", ErrIdentifierLength, BindingSubjectSize)
	}
	sym := Symbol{x: ident{ver: subject[0], mac: [SymbolSize]byte(subject[1:])}}
	id, err := b.p.Derive(sym, sector)
	if err != nil {
		return "", err
	}
	return id.Text(), nil
}
