package identity

import (
	"context"
	"crypto"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/strictjson"
)

// TerminalState is the state of a verification terminal.
type TerminalState string

// Terminal states. A revoked terminal stays in the registry (so its ID is
// never reused) and its attestations are refused from the moment it is
// revoked.
const (
	TerminalActive  TerminalState = "active"
	TerminalRevoked TerminalState = "revoked"
)

// Limits of a terminal's fields.
const (
	MaxTerminalIDLen   = 64
	MaxTerminalNameLen = 128 // bytes of UTF-8
)

// Terminal is an accredited verification terminal: a counter device or
// kiosk that checks that a person matches their document (reading the ID
// card's chip, comparing the face) and signs an attestation saying so.
type Terminal struct {
	ID     string // 1..64 of A-Z a-z 0-9 . _ -, starting with a letter or digit
	Name   string // operator's description, e.g. "Xuhui service centre, counter 3"
	Region string // GB/T 2260 code of where it is installed, e.g. "310104"
	// PublicKey verifies its attestations: SM2 (*gm.PublicKey) or P-256
	// (*ecdsa.PublicKey), as returned by gm.NormalizePublicKey.
	PublicKey crypto.PublicKey
	State     TerminalState
	Created   time.Time
	Revoked   time.Time // zero while active
}

// Alg returns the JWS algorithm of the terminal's key: gm.AlgSM2 or
// gm.AlgES256.
func (t Terminal) Alg() string {
	alg, _ := gm.Alg(t.PublicKey)
	return alg
}

// NewTerminal checks the fields of a terminal to register and returns it
// active, created at created. An empty id is replaced by TerminalIDFromKey.
func NewTerminal(id, name, region string, pub crypto.PublicKey, created time.Time) (Terminal, error) {
	pub, err := terminalKey(pub)
	if err != nil {
		return Terminal{}, err
	}
	if id == "" {
		if id, err = TerminalIDFromKey(pub); err != nil {
			return Terminal{}, err
		}
	}
	t := Terminal{ID: id, Name: strings.TrimSpace(name), Region: region, PublicKey: pub, State: TerminalActive, Created: created.UTC().Truncate(time.Second)}
	if err := t.validate(); err != nil {
		return Terminal{}, err
	}
	return t, nil
}

// TerminalIDFromKey returns the default ID of a terminal: "t-" and the
// first 16 characters of its key's RFC 7638 thumbprint.
func TerminalIDFromKey(pub crypto.PublicKey) (string, error) {
	j, err := gm.NewJWK(pub, "")
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidTerminal, err)
	}
	tp, err := j.Thumbprint()
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidTerminal, err)
	}
	return "t-" + tp[:16], nil
}

// terminalKey accepts SM2 and P-256 public keys only.
func terminalKey(pub crypto.PublicKey) (crypto.PublicKey, error) {
	alg, err := gm.Alg(pub)
	if err != nil || (alg != gm.AlgSM2 && alg != gm.AlgES256) {
		return nil, fmt.Errorf("%w: the key must be SM2 or P-256", ErrInvalidTerminal)
	}
	pub, err = gm.NormalizePublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidTerminal, err)
	}
	return pub, nil
}

func validTerminalID(id string) bool {
	if len(id) == 0 || len(id) > MaxTerminalIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		alnum := isDigit(c) || isLetter(c)
		if !alnum && (i == 0 || (c != '.' && c != '_' && c != '-')) {
			return false
		}
	}
	return true
}

func validRegionCode(r string) bool {
	if len(r) != 6 {
		return false
	}
	for i := 0; i < 6; i++ {
		if !isDigit(r[i]) {
			return false
		}
	}
	return data().provinceKnown(uint32(atoi(r[:2])))
}

func validText(s string, max int) bool {
	if s == "" || len(s) > max || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return false
		}
	}
	return true
}

func (t Terminal) validate() error {
	switch {
	case !validTerminalID(t.ID):
		return fmt.Errorf("%w: ID must be 1-%d characters of A-Z, a-z, 0-9, '.', '_', '-', starting with a letter or digit", ErrInvalidTerminal, MaxTerminalIDLen)
	case !validText(t.Name, MaxTerminalNameLen):
		return fmt.Errorf("%w: name must be 1-%d bytes of text without control characters", ErrInvalidTerminal, MaxTerminalNameLen)
	case !validRegionCode(t.Region):
		return fmt.Errorf("%w: region must be a six-digit GB/T 2260 code under a known province", ErrInvalidTerminal)
	case t.State != TerminalActive && t.State != TerminalRevoked:
		return fmt.Errorf("%w: state must be active or revoked", ErrInvalidTerminal)
	case t.State == TerminalRevoked && t.Revoked.IsZero():
		return fmt.Errorf("%w: a revoked terminal needs its revocation time", ErrInvalidTerminal)
	case t.Created.IsZero():
		return fmt.Errorf("%w: creation time missing", ErrInvalidTerminal)
	}
	if _, err := terminalKey(t.PublicKey); err != nil {
		return err
	}
	return nil
}

// TerminalDirectory finds terminals for attestation checks. Terminal
// returns the terminal with the given ID in any state (the caller checks
// State), or an error matching ErrUnknownTerminal; any other error is a
// failure of the directory itself. Implementations must be safe for
// concurrent use and should reflect a revocation at once.
type TerminalDirectory interface {
	Terminal(ctx context.Context, id string) (Terminal, error)
}

// TerminalRegistry is the managed registry of terminals: on the ledger
// (ledger/registry.Terminals). Add registers a terminal in its state
// (active, or revoked at once, as when a registry is imported) and fails
// with ErrTerminalExists when the ID or the public key is already
// registered (in any state); Revoke fails
// with ErrUnknownTerminal for an unknown ID and ErrTerminalRevoked when
// already revoked; List returns every terminal, in the order added.
type TerminalRegistry interface {
	TerminalDirectory
	Add(ctx context.Context, t Terminal) error
	Revoke(ctx context.Context, id string, at time.Time) error
	List(ctx context.Context) ([]Terminal, error)
}

const (
	terminalFileFormat = "trustid-terminals/1"
	maxTerminalFile    = 4 << 20
)

// ParseTerminalsFile decodes a terminals.json document (format
// trustid-terminals/1, the file an older node kept its registry in, now
// only imported) strictly: known format, no unknown or repeated members,
// no trailing data, every terminal valid, IDs and keys unique. Errors
// match ErrTerminalFile.
func ParseTerminalsFile(raw []byte) ([]Terminal, error) {
	if len(raw) > maxTerminalFile {
		return nil, fmt.Errorf("%w: over %d bytes", ErrTerminalFile, maxTerminalFile)
	}
	return decodeTerminals(raw)
}

// MarshalTerminalsFile encodes terminals as a terminals.json document.
func MarshalTerminalsFile(list []Terminal) ([]byte, error) { return encodeTerminals(list) }

func samePublicKey(a, b crypto.PublicKey) bool {
	ja, err1 := gm.NewJWK(a, "")
	jb, err2 := gm.NewJWK(b, "")
	return err1 == nil && err2 == nil && ja.Crv == jb.Crv && ja.X == jb.X && ja.Y == jb.Y
}

// The file: {"format": "trustid-terminals/1", "terminals": [...]}, each
// terminal with its public key as a JWK.
type terminalsDoc struct {
	Format    string         `json:"format"`
	Terminals []terminalJSON `json:"terminals"`
}

type terminalJSON struct {
	ID      string        `json:"id"`
	Name    string        `json:"name"`
	Region  string        `json:"region"`
	Key     gm.JWK        `json:"key"`
	State   TerminalState `json:"state"`
	Created time.Time     `json:"created"`
	Revoked *time.Time    `json:"revoked,omitempty"`
}

func encodeTerminals(list []Terminal) ([]byte, error) {
	doc := terminalsDoc{Format: terminalFileFormat, Terminals: make([]terminalJSON, 0, len(list))}
	for _, t := range list {
		j, err := gm.NewJWK(t.PublicKey, t.ID)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidTerminal, err)
		}
		tj := terminalJSON{ID: t.ID, Name: t.Name, Region: t.Region, Key: j, State: t.State, Created: t.Created.UTC()}
		if !t.Revoked.IsZero() {
			r := t.Revoked.UTC()
			tj.Revoked = &r
		}
		doc.Terminals = append(doc.Terminals, tj)
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// decodeTerminals parses the file strictly: known format, no unknown or
// repeated members, no trailing data, every terminal valid, IDs and keys
// unique.
func decodeTerminals(raw []byte) ([]Terminal, error) {
	var doc terminalsDoc
	if err := strictjson.Decode(raw, &doc, maxTerminalFile); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTerminalFile, err)
	}
	if doc.Format != terminalFileFormat {
		return nil, fmt.Errorf("%w: format %q, want %q", ErrTerminalFile, doc.Format, terminalFileFormat)
	}
	list := make([]Terminal, 0, len(doc.Terminals))
	ids := map[string]bool{}
	for i, tj := range doc.Terminals {
		pub, err := tj.Key.PublicKey()
		if err != nil {
			return nil, fmt.Errorf("%w: terminal %d: %v", ErrTerminalFile, i, err)
		}
		t := Terminal{ID: tj.ID, Name: tj.Name, Region: tj.Region, PublicKey: pub, State: tj.State, Created: tj.Created}
		if tj.Revoked != nil {
			t.Revoked = *tj.Revoked
		}
		if err := t.validate(); err != nil {
			return nil, fmt.Errorf("%w: terminal %d: %v", ErrTerminalFile, i, err)
		}
		if t.State == TerminalActive && !t.Revoked.IsZero() || tj.Key.Kid != "" && tj.Key.Kid != t.ID {
			return nil, fmt.Errorf("%w: terminal %d: inconsistent state or key ID", ErrTerminalFile, i)
		}
		if ids[t.ID] {
			return nil, fmt.Errorf("%w: terminal %d: ID repeated", ErrTerminalFile, i)
		}
		for _, o := range list {
			if samePublicKey(o.PublicKey, pub) {
				return nil, fmt.Errorf("%w: terminal %d: key repeated", ErrTerminalFile, i)
			}
		}
		ids[t.ID] = true
		list = append(list, t)
	}
	return list, nil
}
