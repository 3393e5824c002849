package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/trustid-cn/trustid/internal/boltfile"

	"github.com/trustid-cn/trustid/chaincode"
)

// BindingReader reads one binding from the chain; Client implements it.
type BindingReader interface {
	CredentialBinding(ctx context.Context, region, key string) (chaincode.StoredBinding, error)
}

// BindingIndex is an instance's on-disk copy of its region's credential
// bindings (chaincode BindCredentialIDs), in a bbolt file: memory does
// not grow with them. It is filled from the chain's events (ApplyEvent,
// every event from block 0 at each start: a binding already held costs
// one read) and, for a key it does not hold yet, from the chain itself
// (Lookup): the chain's current state, which has every binding whose
// issue was acknowledged (the issuing instance answers only after the
// commit). Bindings never change once written, so the copy never holds a
// wrong value, only possibly fewer.
//
// The file is a cache of the chain, caught up from block 0 at every start,
// so it is written without fsync (no disk wait on the issue path); a file
// a power loss left unreadable is replaced by an empty one, which the
// chain fills again. Safe for concurrent use.
type BindingIndex struct {
	db      *boltfile.DB
	region  string
	chain   BindingReader
	timeout time.Duration
}

var bucketBindings = []byte("bindings")

// OpenBindingIndex opens (creating if needed) the index of region's
// bindings at path; a miss reads chain for at most timeout (default 3 s).
func OpenBindingIndex(path, region string, chain BindingReader, timeout time.Duration) (*BindingIndex, error) {
	if timeout <= 0 {
		timeout = 3 * time.Second
	}
	first := true
	// Bindings are only added: the file is reopened at intervals so that
	// bbolt's record of the pages it allocated does not grow with them
	// (package boltfile). Only the first opening may replace it.
	open := func() (*bolt.DB, error) {
		if !first {
			return openBindingFile(path, false)
		}
		first = false
		db, err := openBindingFile(path, true)
		if err != nil && !errors.Is(err, bolterrors.ErrTimeout) {
			// Unreadable (a power loss without fsync): start empty.
			if rerr := os.Remove(path); rerr == nil || errors.Is(rerr, os.ErrNotExist) {
				db, err = openBindingFile(path, true)
			}
		}
		return db, err
	}
	db, err := boltfile.Open(path, open, boltfile.Options{ReopenAfter: reopenAfter})
	if errors.Is(err, boltfile.ErrDamaged) {
		// Cut short (a partial copy): start empty as well.
		if rerr := os.Remove(path); rerr == nil {
			db, err = boltfile.Open(path, open, boltfile.Options{ReopenAfter: reopenAfter})
		}
	}
	if err != nil {
		return nil, fmt.Errorf("ledger: binding index %s: %w", path, err)
	}
	return &BindingIndex{db: db, region: region, chain: chain, timeout: timeout}, nil
}

// errBindingFile: bbolt panicked opening the file (its meta page survived
// a power loss that its data pages did not; the freelist rebuild walks
// them).
var errBindingFile = errors.New("ledger: binding index file damaged")

// openBindingFile opens the file, creating its bucket when create is set.
func openBindingFile(path string, create bool) (db *bolt.DB, err error) {
	defer func() {
		if p := recover(); p != nil {
			db, err = nil, fmt.Errorf("%w: %v", errBindingFile, p)
		}
	}()
	db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, NoSync: true, NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, err
	}
	if !create {
		return db, nil
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketBindings)
		return err
	}); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// ErrBindingLookup: a key the index does not hold could not be read from
// the chain within the timeout. It matches ErrUnavailable; asking again
// later may find it.
var ErrBindingLookup = fmt.Errorf("%w: the chain did not answer a binding lookup in time", ErrUnavailable)

// ApplyEvent adds the bindings of the region's EventCredentialBindings;
// other events are ignored.
func (x *BindingIndex) ApplyEvent(ev Event) error {
	if ev.Name != chaincode.EventCredentialBindings {
		return nil
	}
	var be chaincode.BindingsEvent
	if err := json.Unmarshal(ev.Payload, &be); err != nil {
		return fmt.Errorf("ledger: bindings event: %w", err)
	}
	if be.Region != x.region {
		return nil
	}
	return x.Add(be.Bindings)
}

// Add keeps bindings the chain has (it holds one value per key, for
// good): a value held that differs, damaged on disk, is replaced. Keys
// held already with their value cost no write.
func (x *BindingIndex) Add(bs []chaincode.CredentialBinding) error {
	var missing []chaincode.CredentialBinding
	if err := x.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketBindings)
		for _, cb := range bs {
			if string(b.Get([]byte(cb.Key))) != cb.Value {
				missing = append(missing, cb)
			}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("ledger: binding index: %w", err)
	}
	if len(missing) == 0 {
		return nil
	}
	err := x.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketBindings)
		for _, cb := range missing {
			if err := b.Put([]byte(cb.Key), []byte(cb.Value)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("ledger: binding index: %w", err)
	}
	return nil
}

// Lookup returns the value bound to key: from the index, else from the
// chain (then kept). The index is a copy: when it cannot be read (its
// file being reopened failed), the chain answers. A key the chain does
// not hold gives an error matching chaincode.ErrNotFound; a chain that
// does not answer within the timeout, ErrBindingLookup.
func (x *BindingIndex) Lookup(ctx context.Context, key string) (string, error) {
	var v string
	x.db.View(func(tx *bolt.Tx) error {
		v = string(tx.Bucket(bucketBindings).Get([]byte(key)))
		return nil
	})
	if v != "" {
		return v, nil
	}
	ctx, cancel := context.WithTimeout(ctx, x.timeout)
	defer cancel()
	sb, err := x.chain.CredentialBinding(ctx, x.region, key)
	switch {
	case errors.Is(err, chaincode.ErrNotFound):
		return "", err
	case err != nil:
		return "", fmt.Errorf("%w: %w", ErrBindingLookup, err)
	}
	x.Add([]chaincode.CredentialBinding{{Key: key, Value: sb.Value}}) // if it fails, the next Lookup reads the chain again
	return sb.Value, nil
}

// Len returns the number of bindings held.
func (x *BindingIndex) Len() int {
	n := 0
	x.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketBindings).Stats().KeyN
		return nil
	})
	return n
}

// Close closes the file.
func (x *BindingIndex) Close() error { return x.db.Close() }

// ChosenIDs binds credential IDs a request chose on the chain (Binder)
// and reads them back (Index): statuslist.Shared's ChosenBindings.
type ChosenIDs struct {
	Binder *Binder
	Index  *BindingIndex
}

// Bind is Binder.Bind; a committed binding is kept in the index at once
// (the issuing instance reads its own bindings before its follower
// delivers them; if the index cannot write, Lookup reads the chain).
func (c ChosenIDs) Bind(ctx context.Context, b chaincode.CredentialBinding) error {
	if err := c.Binder.Bind(ctx, b); err != nil {
		return err
	}
	c.Index.Add([]chaincode.CredentialBinding{b}) // if it fails, Lookup reads the chain
	return nil
}

// Lookup is BindingIndex.Lookup.
func (c ChosenIDs) Lookup(ctx context.Context, key string) (string, error) {
	return c.Index.Lookup(ctx, key)
}
