// Package embedded is the default ledger backend: the contract of package
// chaincode run in-process over one bbolt file, with an append-only, SM3
// hash-chained block log that Verify replays. It implements [ledger.Ledger];
// only cmd/trustid (wiring) and tests import it, so code that uses the
// ledger's View or Outbox does not link bbolt.
package embedded

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/boltfile"
	"github.com/trustid-cn/trustid/ledger"
)

// Ledger is the in-process ledger: the contract run over one bbolt file,
// with an append-only block log. Each committed transaction that changed
// the state or emitted an event is one block:
//
//	hash = SM3("trustid-block-v1" || u64be(number) || prev ||
//	           u64be(unix nanos) || lp(tx) || lp(caller) || lp(fn) ||
//	           SM3(args) || SM3(writes) || lp(event name) || lp(event payload))
//
// with lp(x) = u32be(len(x)) || x, args and writes in the same
// length-prefixed form, and prev the previous block's hash (32 zero bytes
// for block 0). Blocks keep their write sets, so Verify can replay the log
// into a fresh state and compare it with the stored one.
//
// One Ledger value acts as one MSP; As returns a handle acting as
// another over the same file (for tests and single-machine consortia).
type Ledger struct {
	*embeddedDB
	msp string
}

type embeddedDB struct {
	db   *boltfile.DB
	now  func() time.Time
	rand io.Reader

	mu     sync.Mutex
	closed bool
	notify chan struct{} // closed and replaced on every new block
	refs   int
}

var (
	bucketState  = []byte("state")
	bucketBlocks = []byte("blocks")
)

// Options configures Open. Zero values: time.Now and
// crypto/rand.
type Options struct {
	// MSPID is the identity transactions are submitted as, e.g.
	// chaincode.RegionMSP("310000"). Required.
	MSPID string
	Now   func() time.Time
	Rand  io.Reader
	// ReopenAfter is the number of page allocations after which the file
	// is reopened; 0 means boltfile.DefaultReopenAfter.
	ReopenAfter int
}

var _ ledger.Ledger = (*Ledger)(nil)

// Open opens (creating if needed) the embedded ledger at path. The
// file is locked: a second process opening it fails after a second.
func Open(path string, opts Options) (*Ledger, error) {
	if _, err := chaincode.RegionOfMSP(opts.MSPID); err != nil {
		return nil, fmt.Errorf("ledger: embedded: %w", err)
	}
	// The block log only grows: the file is reopened at intervals so that
	// bbolt's record of the pages it allocated does not (package boltfile).
	db, err := boltfile.Open(path, func() (*bolt.DB, error) {
		db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, FreelistType: bolt.FreelistMapType})
		if err != nil {
			return nil, ledger.OpenFileError(path, err)
		}
		return db, nil
	}, boltfile.Options{ReopenAfter: opts.ReopenAfter})
	if errors.Is(err, boltfile.ErrLocked) {
		return nil, ledger.OpenFileError(path, err)
	}
	if err != nil {
		return nil, err
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketState, bucketBlocks} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("%w: %s: %v", ledger.ErrUnavailable, path, err)
	}
	e := &embeddedDB{db: db, now: opts.Now, rand: opts.Rand, notify: make(chan struct{}), refs: 1}
	if e.now == nil {
		e.now = time.Now
	}
	if e.rand == nil {
		e.rand = rand.Reader
	}
	return &Ledger{embeddedDB: e, msp: opts.MSPID}, nil
}

// shared holds the files opened with OpenShared in this process, by
// absolute path.
var shared = struct {
	sync.Mutex
	m map[string]*Ledger
}{m: map[string]*Ledger{}}

// OpenShared is Open, except that a file this process already opened with
// OpenShared (and has not closed) is not opened again: the result is a
// handle over it acting as opts.MSPID (As; opts.Now and opts.Rand of the
// first opener stay). It lets several nodes of different regions run in
// one process over one ledger (tests, single-machine consortia); across
// processes the file lock still refuses a second opener.
func OpenShared(path string, opts Options) (*Ledger, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ledger.ErrUnavailable, path, err)
	}
	shared.Lock()
	defer shared.Unlock()
	if l, ok := shared.m[abs]; ok {
		if h, err := l.As(opts.MSPID); !errors.Is(err, ledger.ErrClosed) {
			return h, err
		}
	}
	l, err := Open(abs, opts)
	if err != nil {
		return nil, err
	}
	shared.m[abs] = l
	return l, nil
}

// As returns a handle over the same file acting as mspID. Close every
// handle; the file closes with the last one.
func (e *Ledger) As(mspID string) (*Ledger, error) {
	if _, err := chaincode.RegionOfMSP(mspID); err != nil {
		return nil, fmt.Errorf("ledger: embedded: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, ledger.ErrClosed
	}
	e.refs++
	return &Ledger{embeddedDB: e.embeddedDB, msp: mspID}, nil
}

// MSPID implements ledger.Ledger.
func (e *Ledger) MSPID() string { return e.msp }

// Close implements ledger.Ledger.
func (e *Ledger) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.refs--
	if e.refs > 0 {
		return nil
	}
	e.closed = true
	close(e.notify)
	return e.db.Close()
}

// Block is one entry of the embedded block log.
type Block struct {
	Number  uint64    `json:"number"`
	Prev    string    `json:"prev"`
	Hash    string    `json:"hash"`
	Time    time.Time `json:"time"`
	TxID    string    `json:"tx"`
	Caller  string    `json:"caller"`
	Fn      string    `json:"fn"`
	Args    []string  `json:"args"`
	Writes  []Write   `json:"writes"`
	Event   string    `json:"event,omitempty"`
	Payload []byte    `json:"payload,omitempty"`
}

// Write is one key written (or deleted, Value nil) by a transaction.
type Write struct {
	Key   string `json:"key"`
	Value []byte `json:"value,omitempty"`
}

func lp(buf []byte, b []byte) []byte {
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(b)))
	return append(buf, b...)
}

// hash computes the block's hash (see Ledger).
func (b *Block) hash() (string, error) {
	prev, err := hex.DecodeString(b.Prev)
	if err != nil || len(prev) != gm.SM3Size {
		return "", fmt.Errorf("ledger: block %d: bad prev hash", b.Number)
	}
	var args, writes []byte
	for _, a := range b.Args {
		args = lp(args, []byte(a))
	}
	for _, w := range b.Writes {
		writes = lp(writes, []byte(w.Key))
		if w.Value == nil {
			writes = append(writes, 0)
		} else {
			writes = append(writes, 1)
			writes = lp(writes, w.Value)
		}
	}
	ah, wh := gm.SM3(args), gm.SM3(writes)
	buf := []byte("trustid-block-v1")
	buf = binary.BigEndian.AppendUint64(buf, b.Number)
	buf = append(buf, prev...)
	buf = binary.BigEndian.AppendUint64(buf, uint64(b.Time.UnixNano()))
	buf = lp(buf, []byte(b.TxID))
	buf = lp(buf, []byte(b.Caller))
	buf = lp(buf, []byte(b.Fn))
	buf = append(buf, ah[:]...)
	buf = append(buf, wh[:]...)
	buf = lp(buf, []byte(b.Event))
	buf = lp(buf, b.Payload)
	h := gm.SM3(buf)
	return hex.EncodeToString(h[:]), nil
}

var zeroHash = hex.EncodeToString(make([]byte, gm.SM3Size))

// txState is the contract's State over a bbolt transaction. Like Fabric,
// reads do not see the transaction's own writes; writes are buffered and
// applied on commit.
type txState struct {
	tx     *bolt.Tx
	msp    string
	id     string
	now    time.Time
	writes map[string][]byte // nil value: delete
	order  []string
	event  string
	pay    []byte
	hasEv  bool
}

func (s *txState) Get(key string) ([]byte, error) {
	v := s.tx.Bucket(bucketState).Get([]byte(key))
	if v == nil {
		return nil, nil
	}
	return bytes.Clone(v), nil
}

func (s *txState) set(key string, value []byte) {
	if _, ok := s.writes[key]; !ok {
		s.order = append(s.order, key)
	}
	s.writes[key] = value
}

func (s *txState) Put(key string, value []byte) error {
	if len(value) == 0 {
		return fmt.Errorf("ledger: empty value for key %q", key)
	}
	s.set(key, bytes.Clone(value))
	return nil
}

func (s *txState) Delete(key string) error { s.set(key, nil); return nil }

func (s *txState) Scan(objectType string, attrs []string, fn func(string, []byte) error) error {
	start, end, err := chaincode.PrefixRange(objectType, attrs)
	if err != nil {
		return err
	}
	c := s.tx.Bucket(bucketState).Cursor()
	for k, v := c.Seek([]byte(start)); k != nil && bytes.Compare(k, []byte(end)) < 0; k, v = c.Next() {
		if err := fn(string(k), v); err != nil {
			return err
		}
	}
	return nil
}

func (s *txState) ScanPage(objectType string, attrs []string, bookmark string, limit int, fn func(string, []byte) error) (string, error) {
	start, end, err := chaincode.PrefixRange(objectType, attrs)
	if err != nil {
		return "", err
	}
	c, n := s.tx.Bucket(bucketState).Cursor(), 0
	for k, v := c.Seek([]byte(max(start, bookmark))); k != nil && bytes.Compare(k, []byte(end)) < 0; k, v = c.Next() {
		if n == limit {
			return string(k), nil
		}
		if err := fn(string(k), v); err != nil {
			return "", err
		}
		n++
	}
	return "", nil
}

func (s *txState) Emit(name string, payload []byte) error {
	s.event, s.pay, s.hasEv = name, bytes.Clone(payload), true
	return nil
}

func (s *txState) Caller() (string, error)  { return s.msp, nil }
func (s *txState) TxID() string             { return s.id }
func (s *txState) Time() (time.Time, error) { return s.now, nil }

func (e *Ledger) newTxID() (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(e.rand, b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

func (e *Ledger) checkOpen() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ledger.ErrClosed
	}
	return nil
}

// Evaluate implements ledger.Ledger.
func (e *Ledger) Evaluate(ctx context.Context, fn string, args ...string) ([]byte, error) {
	if err := e.checkOpen(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []byte
	err := e.db.View(func(tx *bolt.Tx) error {
		st := &txState{tx: tx, msp: e.msp, id: "evaluate", now: e.now().UTC(), writes: map[string][]byte{}}
		var err error
		out, err = chaincode.Invoke(st, fn, bargs(args))
		return err
	})
	return out, err
}

func bargs(args []string) [][]byte {
	b := make([][]byte, len(args))
	for i, a := range args {
		b[i] = []byte(a)
	}
	return b
}

// Submit implements ledger.Ledger: the contract runs and its writes and block are
// committed (fsync) in one bbolt transaction, or nothing is.
func (e *Ledger) Submit(ctx context.Context, fn string, args ...string) ([]byte, uint64, error) {
	if err := e.checkOpen(); err != nil {
		return nil, 0, err
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	id, err := e.newTxID()
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ledger.ErrUnavailable, err)
	}
	var out []byte
	var appended bool
	var number uint64
	err = e.db.Update(func(tx *bolt.Tx) error {
		st := &txState{tx: tx, msp: e.msp, id: id, now: e.now().UTC(), writes: map[string][]byte{}}
		var err error
		if out, err = chaincode.Invoke(st, fn, bargs(args)); err != nil {
			return err
		}
		if len(st.writes) == 0 && !st.hasEv {
			return nil // nothing changed (e.g. a replayed batch): no block
		}
		blocks := tx.Bucket(bucketBlocks)
		b := Block{Prev: zeroHash, Time: st.now, TxID: id, Caller: e.msp, Fn: fn, Args: args, Event: st.event, Payload: st.pay}
		if k, v := blocks.Cursor().Last(); k != nil {
			var last Block
			if err := json.Unmarshal(v, &last); err != nil {
				return fmt.Errorf("ledger: block log: %w", err)
			}
			b.Number, b.Prev = last.Number+1, last.Hash
		}
		if b.Args == nil {
			b.Args = []string{}
		}
		sort.Strings(st.order) // write sets in key order
		state := tx.Bucket(bucketState)
		for _, k := range st.order {
			v := st.writes[k]
			b.Writes = append(b.Writes, Write{Key: k, Value: v})
			if v == nil {
				err = state.Delete([]byte(k))
			} else {
				err = state.Put([]byte(k), v)
			}
			if err != nil {
				return err
			}
		}
		if b.Hash, err = b.hash(); err != nil {
			return err
		}
		raw, err := json.Marshal(b)
		if err != nil {
			return err
		}
		appended, number = true, b.Number
		return blocks.Put(binary.BigEndian.AppendUint64(nil, b.Number), raw)
	})
	if err != nil {
		var ce *chaincode.Error
		if errors.As(err, &ce) {
			return nil, 0, err
		}
		return nil, 0, fmt.Errorf("%w: %v", ledger.ErrUnavailable, err)
	}
	if appended {
		e.mu.Lock()
		if !e.closed {
			close(e.notify)
			e.notify = make(chan struct{})
		}
		e.mu.Unlock()
	}
	return out, number, nil
}

// Height implements ledger.Ledger.
func (e *Ledger) Height(ctx context.Context) (uint64, error) {
	var h uint64
	err := e.db.View(func(tx *bolt.Tx) error {
		if k, _ := tx.Bucket(bucketBlocks).Cursor().Last(); k != nil {
			h = binary.BigEndian.Uint64(k) + 1
		}
		return nil
	})
	return h, err
}

// TxBlock implements ledger.Ledger. It reads the block log from its
// end: the transactions asked about (those of replayed batches) are
// among the last.
func (e *Ledger) TxBlock(ctx context.Context, txID string) (uint64, error) {
	if err := e.checkOpen(); err != nil {
		return 0, err
	}
	mark := []byte(`"tx":` + strconv.Quote(txID))
	var number uint64
	found := false
	err := e.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketBlocks).Cursor()
		for k, v := c.Last(); k != nil && !found; k, v = c.Prev() {
			if err := ctx.Err(); err != nil {
				return err
			}
			if !bytes.Contains(v, mark) {
				continue
			}
			var b struct {
				Number uint64 `json:"number"`
				TxID   string `json:"tx"`
			}
			if err := json.Unmarshal(v, &b); err != nil {
				return fmt.Errorf("ledger: block %x: %w", k, err)
			}
			number, found = b.Number, b.TxID == txID
		}
		return nil
	})
	switch {
	case err != nil:
		return 0, fmt.Errorf("%w: %v", ledger.ErrUnavailable, err)
	case !found:
		return 0, fmt.Errorf("%w: transaction %s", chaincode.ErrNotFound, txID)
	}
	return number, nil
}

// Blocks calls fn for each block from number from on, in order.
func (e *Ledger) Blocks(from uint64, fn func(Block) error) error {
	return e.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketBlocks).Cursor()
		for k, v := c.Seek(binary.BigEndian.AppendUint64(nil, from)); k != nil; k, v = c.Next() {
			var b Block
			if err := json.Unmarshal(v, &b); err != nil {
				return fmt.Errorf("ledger: block %x: %w", k, err)
			}
			if err := fn(b); err != nil {
				return err
			}
		}
		return nil
	})
}

// ErrTampered reports a block log or state that does not verify.
var ErrTampered = errors.New("ledger: embedded ledger does not verify")

// Verify checks the block log's hash chain and numbering, replays every
// block's writes into a fresh state, and compares that with the stored
// state key by key.
func (e *Ledger) Verify() error {
	return e.db.View(func(tx *bolt.Tx) error {
		replayed := map[string][]byte{}
		prev, next := zeroHash, uint64(0)
		c := tx.Bucket(bucketBlocks).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			var b Block
			if err := json.Unmarshal(v, &b); err != nil {
				return fmt.Errorf("%w: block %x: %v", ErrTampered, k, err)
			}
			if binary.BigEndian.Uint64(k) != next || b.Number != next {
				return fmt.Errorf("%w: block %d out of sequence", ErrTampered, next)
			}
			if b.Prev != prev {
				return fmt.Errorf("%w: block %d does not link to block %d", ErrTampered, b.Number, b.Number-1)
			}
			h, err := b.hash()
			if err != nil || h != b.Hash {
				return fmt.Errorf("%w: block %d hash mismatch", ErrTampered, b.Number)
			}
			for _, w := range b.Writes {
				if w.Value == nil {
					delete(replayed, w.Key)
				} else {
					replayed[w.Key] = w.Value
				}
			}
			prev, next = b.Hash, next+1
		}
		n := 0
		err := tx.Bucket(bucketState).ForEach(func(k, v []byte) error {
			n++
			if w, ok := replayed[string(k)]; !ok || !bytes.Equal(w, v) {
				return fmt.Errorf("%w: state key %q differs from the block log", ErrTampered, k)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if n != len(replayed) {
			return fmt.Errorf("%w: state lacks %d keys of the block log", ErrTampered, len(replayed)-n)
		}
		return nil
	})
}

// Events implements ledger.Ledger: it replays blocks from from and then follows
// new ones.
func (e *Ledger) Events(ctx context.Context, from uint64) (<-chan ledger.Event, error) {
	if err := e.checkOpen(); err != nil {
		return nil, err
	}
	ch := make(chan ledger.Event, 64)
	go func() {
		defer close(ch)
		next := from
		for {
			e.mu.Lock()
			wait, closed := e.notify, e.closed
			e.mu.Unlock()
			if closed {
				return
			}
			// Read a bounded page of blocks, then send with no read
			// transaction open (a long one would stall the file's growth).
			var page []Block
			errStop := errors.New("page full")
			err := e.Blocks(next, func(b Block) error {
				page = append(page, b)
				if len(page) == 256 {
					return errStop
				}
				return nil
			})
			if err != nil && err != errStop {
				return
			}
			for _, b := range page {
				next = b.Number + 1
				if b.Event == "" {
					continue
				}
				select {
				case ch <- ledger.Event{Block: b.Number, TxID: b.TxID, Name: b.Event, Payload: b.Payload}:
				case <-ctx.Done():
					return
				}
			}
			if len(page) == 256 {
				continue
			}
			select {
			case <-wait:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch, nil
}
