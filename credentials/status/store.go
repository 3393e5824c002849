package status

import (
	"errors"
	"time"
)

// The data a node's status store hands out (package credentials/statuslist
// keeps it; package credentials declares the interfaces it needs).

// ErrNotFound: no list with that ID.
var ErrNotFound = errors.New("statuslist: no such list")

// Ref names one status entry: a list, an index in it, and its purpose.
type Ref struct {
	ListID  string `json:"list"`
	Index   int    `json:"index"`
	Purpose string `json:"purpose"`
}

// ErrBound: a credential ID already has status entries.
var ErrBound = errors.New("statuslist: credential already has status entries")

// Snapshot is a copy of one list at a version (1 when the list was
// created, one more with each change).
type Snapshot struct {
	ID      string
	Purpose string
	Version uint64
	Updated time.Time
	// Bitstring is set for revocation and suspension lists, Token for token
	// lists.
	Bitstring *Bitstring
	Token     *TokenList
}

// Change is one entry change recorded in a list's anchoring journal.
type Change struct {
	Index int
	// Value is the entry's new status (0/1 for a bitstring list, a Token*
	// value for a token list): an absolute value, so handing the same
	// change to the ledger twice is harmless.
	Value uint8
	// Version is the list's version after the change.
	Version uint64
}

// Pending is what of one list has not been marked anchored: the list as it
// is now, and the changes made after the version last marked anchored.
type Pending struct {
	Snapshot
	// Anchored is the version last marked anchored (0: none yet; a new
	// list's first head is version 1).
	Anchored uint64
	// Changes are oldest first.
	Changes []Change
}
