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

// ErrUnconfirmed: the binding of a credential ID a request chose could
// not be confirmed on the ledger in time (written, when issuing; read,
// when changing its status). Retrying later may succeed.
var ErrUnconfirmed = errors.New("statuslist: the credential ID's binding is not confirmed by the ledger yet; retry")

// ErrChangePending: another instance of the region holds the entry's
// "change pending" marker (its change is not committed yet) and did not
// release it in time. Nothing was changed; retrying later may succeed.
var ErrChangePending = errors.New("statuslist: another instance's change of this entry is not committed yet; retry")

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

// Entry is a new value for one entry of a list (a status change to make).
type Entry struct {
	ListID string
	Index  int
	Value  uint8
}
