package chaincode

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// State is what the contract needs from a ledger, for one transaction.
// Fabric's stub and the embedded ledger's bbolt transaction implement it.
//
// Keys are composite keys made by CompositeKey (Fabric's encoding), so the
// same contract code stores the same keys in both ledgers.
type State interface {
	// Get returns the value under key, or nil (and no error) if absent.
	Get(key string) ([]byte, error)
	// Put stores value (not empty) under key.
	Put(key string, value []byte) error
	// Delete removes key; removing an absent key is not an error.
	Delete(key string) error
	// Scan calls fn for every key made by CompositeKey(objectType, attrs...,
	// more...), in key order. fn's value must not be retained.
	Scan(objectType string, attrs []string, fn func(key string, value []byte) error) error
	// ScanPage is Scan over at most limit keys from bookmark on (a key
	// an earlier ScanPage of the same range returned, or "" for the
	// first); it returns the first key of the next page, "" after the
	// last. Fabric pages only in read-only transactions.
	ScanPage(objectType string, attrs []string, bookmark string, limit int, fn func(key string, value []byte) error) (string, error)
	// Emit sets the transaction's event. A transaction has at most one.
	Emit(name string, payload []byte) error
	// Caller returns the MSP ID of the transaction's submitter.
	Caller() (string, error)
	// TxID returns the transaction's ID.
	TxID() string
	// Time returns the transaction's timestamp, set by the client and the
	// same at every endorser.
	Time() (time.Time, error)
}

// Composite keys follow Fabric's encoding: U+0000, the object type, U+0000,
// then each attribute followed by U+0000.
const (
	keyNS       = "\x00"
	keySep      = "\x00"
	maxKeyRune  = utf8.MaxRune
	maxKeyBytes = 1024
)

// ErrBadKey reports an attribute that cannot be part of a composite key.
var ErrBadKey = errors.New("chaincode: invalid key attribute")

// CompositeKey builds the key of objectType with attrs, as Fabric's
// CreateCompositeKey does.
func CompositeKey(objectType string, attrs ...string) (string, error) {
	var b strings.Builder
	b.WriteString(keyNS)
	for i, a := range append([]string{objectType}, attrs...) {
		if !utf8.ValidString(a) || strings.ContainsRune(a, 0) || strings.ContainsRune(a, maxKeyRune) || (i == 0 && a == "") {
			return "", fmt.Errorf("%w: %.64q", ErrBadKey, a) // truncated: the argument may be large
		}
		b.WriteString(a)
		b.WriteString(keySep)
	}
	if b.Len() > maxKeyBytes {
		return "", fmt.Errorf("%w: key over %d bytes", ErrBadKey, maxKeyBytes)
	}
	return b.String(), nil
}

// SplitCompositeKey returns the object type and attributes of key.
func SplitCompositeKey(key string) (string, []string, error) {
	if !strings.HasPrefix(key, keyNS) || !strings.HasSuffix(key, keySep) || len(key) < 3 {
		return "", nil, fmt.Errorf("%w: not a composite key", ErrBadKey)
	}
	parts := strings.Split(key[1:len(key)-1], keySep)
	return parts[0], parts[1:], nil
}

// PrefixRange returns the half-open key range [start, end) of the partial
// composite key (objectType, attrs...), as Fabric's
// GetStateByPartialCompositeKey uses.
func PrefixRange(objectType string, attrs []string) (start, end string, err error) {
	start, err = CompositeKey(objectType, attrs...)
	if err != nil {
		return "", "", err
	}
	return start, start + string(maxKeyRune), nil
}

// MemState is an in-memory State for tests and tools. It is not safe for
// concurrent use. Its Caller, TxID and Time are the exported fields. As
// on Fabric, a transaction's reads do not see its own writes: Put and
// Delete go to a write set that Commit applies to KV (Discard drops it).
type MemState struct {
	MSPID string
	ID    string
	Now   time.Time

	KV     map[string][]byte
	Events []Event
	writes map[string][]byte // the transaction's writes; nil: a delete
}

// Commit applies the transaction's writes to KV.
func (m *MemState) Commit() {
	for k, v := range m.writes {
		if v == nil {
			delete(m.KV, k)
		} else {
			m.KV[k] = v
		}
	}
	m.writes = nil
}

// Discard drops the transaction's writes and events.
func (m *MemState) Discard() {
	m.writes, m.Events = nil, nil
}

// Event is an event a transaction emitted.
type Event struct {
	Name    string
	Payload []byte
}

// NewMemState returns an empty state with the given caller.
func NewMemState(mspID string, now time.Time) *MemState {
	return &MemState{MSPID: mspID, ID: "tx0", Now: now, KV: map[string][]byte{}}
}

// Get implements State.
func (m *MemState) Get(key string) ([]byte, error) {
	v, ok := m.KV[key]
	if !ok {
		return nil, nil
	}
	return append([]byte(nil), v...), nil
}

// Put implements State.
func (m *MemState) Put(key string, value []byte) error {
	if len(value) == 0 {
		return fmt.Errorf("chaincode: empty value for key %q", key)
	}
	m.write(key, append([]byte(nil), value...))
	return nil
}

func (m *MemState) write(key string, value []byte) {
	if m.writes == nil {
		m.writes = map[string][]byte{}
	}
	m.writes[key] = value
}

// Delete implements State.
func (m *MemState) Delete(key string) error {
	m.write(key, nil)
	return nil
}

// Scan implements State.
func (m *MemState) Scan(objectType string, attrs []string, fn func(string, []byte) error) error {
	_, err := m.ScanPage(objectType, attrs, "", len(m.KV), fn)
	return err
}

// ScanPage implements State.
func (m *MemState) ScanPage(objectType string, attrs []string, bookmark string, limit int, fn func(string, []byte) error) (string, error) {
	start, end, err := PrefixRange(objectType, attrs)
	if err != nil {
		return "", err
	}
	start = max(start, bookmark)
	var keys []string
	for k := range m.KV {
		if k >= start && k < end {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	next := ""
	if len(keys) > limit {
		next, keys = keys[limit], keys[:limit]
	}
	for _, k := range keys {
		if err := fn(k, m.KV[k]); err != nil {
			return "", err
		}
	}
	return next, nil
}

// Emit implements State; like Fabric, a later event replaces an earlier one
// of the same transaction (the contract sets at most one).
func (m *MemState) Emit(name string, payload []byte) error {
	m.Events = append(m.Events, Event{Name: name, Payload: append([]byte(nil), payload...)})
	return nil
}

// Caller implements State.
func (m *MemState) Caller() (string, error) { return m.MSPID, nil }

// TxID implements State.
func (m *MemState) TxID() string { return m.ID }

// Time implements State.
func (m *MemState) Time() (time.Time, error) { return m.Now, nil }
