package statuslist

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/trustid-cn/trustid/keystore"
)

// Purposes of a list. Revocation and suspension lists are W3C Bitstring
// Status Lists (1 bit per entry); token lists are IETF Token Status Lists
// with 2 bits per entry (VALID, INVALID, SUSPENDED).
const (
	PurposeRevocation = "revocation"
	PurposeSuspension = "suspension"
	PurposeToken      = "token"
)

// TokenBits is the width of the token lists FileStore keeps.
const TokenBits = 2

// Purposes lists the purposes FileStore keeps.
var Purposes = []string{PurposeRevocation, PurposeSuspension, PurposeToken}

// FileStoreOptions configures OpenFileStore. Zero values: MinEntries per
// list, crypto/rand, time.Now.
type FileStoreOptions struct {
	// Size is the number of entries per new list (a multiple of 8, at least
	// MinEntries).
	Size int
	Rand io.Reader
	Now  func() time.Time
}

// FileStore keeps status lists in a directory, one file per list, each
// replaced atomically (temporary file, fsync, rename) before a change is
// acknowledged, so a crash loses no allocation and never reuses an index.
// Indices are drawn at random among the free ones of the newest list of a
// purpose; when a list is seven-eighths allocated a new list is started.
// It is safe for concurrent use within one process; one process owns the
// directory.
type FileStore struct {
	dir  string
	size int
	rand io.Reader
	now  func() time.Time

	mu    sync.Mutex
	lists map[string]*list
	order []string         // list IDs, oldest first
	index map[string][]Ref // credential ID hash -> entries
}

type list struct {
	id        string
	purpose   string
	created   time.Time
	updated   time.Time
	version   uint64
	count     int // allocated entries
	allocated []byte
	bits      *Bitstring // revocation, suspension
	token     *TokenList // token
}

func (l *list) size() int {
	if l.bits != nil {
		return l.bits.Len()
	}
	return l.token.Len()
}

func (l *list) isAllocated(i int) bool { return l.allocated[i>>3]&(0x80>>(i&7)) != 0 }

// Snapshot is a copy of one list at a version.
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

const fileFormat = "trustid-statuslist/1"

var listIDRE = regexp.MustCompile(`^[0-9a-f]{16}$`)

// ValidListID reports whether id has the form FileStore gives list IDs.
func ValidListID(id string) bool { return listIDRE.MatchString(id) }

// OpenFileStore opens (creating it if needed) the store in dir.
func OpenFileStore(dir string, opts FileStoreOptions) (*FileStore, error) {
	s := &FileStore{dir: dir, size: opts.Size, rand: opts.Rand, now: opts.Now, lists: map[string]*list{}}
	if s.size == 0 {
		s.size = MinEntries
	}
	if s.size < MinEntries || s.size%8 != 0 || s.size > MaxEntries {
		return nil, fmt.Errorf("%w: list size %d must be a multiple of 8 in [%d, %d]", ErrEncoding, s.size, MinEntries, MaxEntries)
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	if s.now == nil {
		s.now = time.Now
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("statuslist: %w", err)
	}
	names, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, fmt.Errorf("statuslist: %w", err)
	}
	for _, name := range names {
		l, err := readList(name)
		if err != nil {
			return nil, err
		}
		s.lists[l.id] = l
		s.order = append(s.order, l.id)
	}
	slices.SortFunc(s.order, func(a, b string) int {
		return s.lists[a].created.Compare(s.lists[b].created)
	})
	if err := s.loadIndex(); err != nil {
		return nil, err
	}
	return s, nil
}

type diskList struct {
	Format    string    `json:"format"`
	ID        string    `json:"id"`
	Purpose   string    `json:"purpose"`
	Size      int       `json:"size"`
	Created   time.Time `json:"created"`
	Updated   time.Time `json:"updated"`
	Version   uint64    `json:"version"`
	Allocated []byte    `json:"allocated"`
	Values    []byte    `json:"values"`
}

func readList(path string) (*list, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("statuslist: %w", err)
	}
	var d diskList
	bad := func(why string) error { return fmt.Errorf("%s: %w: %s", path, ErrCorrupted, why) }
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, bad(err.Error())
	}
	if d.Format != fileFormat {
		return nil, bad("unknown format")
	}
	if !ValidListID(d.ID) || filepath.Base(path) != d.ID+".json" {
		return nil, bad("list ID does not match the file name")
	}
	if d.Size < 8 || d.Size%8 != 0 || d.Size > MaxEntries || len(d.Allocated) != d.Size/8 {
		return nil, bad("sizes do not match")
	}
	l := &list{id: d.ID, purpose: d.Purpose, created: d.Created, updated: d.Updated, version: d.Version, allocated: d.Allocated}
	switch d.Purpose {
	case PurposeRevocation, PurposeSuspension:
		if len(d.Values) != d.Size/8 {
			return nil, bad("sizes do not match")
		}
		l.bits = &Bitstring{bits: d.Values, n: d.Size}
	case PurposeToken:
		if len(d.Values) != d.Size*TokenBits/8 {
			return nil, bad("sizes do not match")
		}
		l.token = &TokenList{bits: TokenBits, data: d.Values, n: d.Size}
	default:
		return nil, bad("unknown purpose")
	}
	for i := range d.Size {
		if l.isAllocated(i) {
			l.count++
		}
	}
	return l, nil
}

func (s *FileStore) write(l *list) error {
	d := diskList{Format: fileFormat, ID: l.id, Purpose: l.purpose, Size: l.size(), Created: l.created,
		Updated: l.updated, Version: l.version, Allocated: l.allocated}
	if l.bits != nil {
		d.Values = l.bits.bits
	} else {
		d.Values = l.token.data
	}
	out, err := json.Marshal(d)
	if err != nil {
		return err
	}
	if err := keystore.WriteFileAtomic(filepath.Join(s.dir, l.id+".json"), out, 0o600); err != nil {
		return fmt.Errorf("statuslist: %w", err)
	}
	return nil
}

// randInt returns a uniform integer in [0, n).
func (s *FileStore) randInt(n int) (int, error) {
	var b [8]byte
	for {
		if _, err := io.ReadFull(s.rand, b[:]); err != nil {
			return 0, fmt.Errorf("statuslist: random: %w", err)
		}
		v := binary.BigEndian.Uint64(b[:])
		limit := ^uint64(0) - ^uint64(0)%uint64(n)
		if v < limit {
			return int(v % uint64(n)), nil
		}
	}
}

// full reports whether l should take no more allocations.
func (l *list) full() bool { return l.count >= l.size()-l.size()/8 }

// Allocate reserves a random free index in the newest list of purpose,
// starting a new list when needed, and persists the reservation before
// returning.
func (s *FileStore) Allocate(ctx context.Context, purpose string) (string, int, error) {
	if err := ctx.Err(); err != nil {
		return "", 0, err
	}
	if !slices.Contains(Purposes, purpose) {
		return "", 0, fmt.Errorf("%w: %q", ErrPurpose, purpose)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var cur *list
	for i := len(s.order) - 1; i >= 0; i-- {
		if l := s.lists[s.order[i]]; l.purpose == purpose {
			cur = l
			break
		}
	}
	created := false
	if cur == nil || cur.full() {
		var err error
		if cur, err = s.newList(purpose); err != nil {
			return "", 0, err
		}
		created = true
	}
	idx := -1
	for try := 0; try < 64 && idx < 0; try++ {
		i, err := s.randInt(cur.size())
		if err != nil {
			return "", 0, err
		}
		if !cur.isAllocated(i) {
			idx = i
		}
	}
	if idx < 0 { // improbable below the fill limit: scan from a random start
		start, err := s.randInt(cur.size())
		if err != nil {
			return "", 0, err
		}
		for k := range cur.size() {
			if i := (start + k) % cur.size(); !cur.isAllocated(i) {
				idx = i
				break
			}
		}
	}
	cur.allocated[idx>>3] |= 0x80 >> (idx & 7)
	cur.count++
	if err := s.write(cur); err != nil {
		cur.allocated[idx>>3] &^= 0x80 >> (idx & 7)
		cur.count--
		if created {
			delete(s.lists, cur.id)
			s.order = s.order[:len(s.order)-1]
		}
		return "", 0, err
	}
	return cur.id, idx, nil
}

func (s *FileStore) newList(purpose string) (*list, error) {
	var idb [8]byte
	if _, err := io.ReadFull(s.rand, idb[:]); err != nil {
		return nil, fmt.Errorf("statuslist: random: %w", err)
	}
	now := s.now().UTC()
	l := &list{id: hex.EncodeToString(idb[:]), purpose: purpose, created: now, updated: now, allocated: make([]byte, s.size/8)}
	var err error
	if purpose == PurposeToken {
		l.token, err = NewTokenList(TokenBits, s.size)
	} else {
		l.bits, err = NewBitstring(s.size)
	}
	if err != nil {
		return nil, err
	}
	if _, dup := s.lists[l.id]; dup {
		return nil, errors.New("statuslist: list ID collision")
	}
	s.lists[l.id] = l
	s.order = append(s.order, l.id)
	return l, nil
}

// Set sets the status at index of list: for revocation and suspension
// lists 0 or 1; for token lists TokenValid, TokenInvalid or
// TokenSuspended. Only allocated indices can be set.
func (s *FileStore) Set(ctx context.Context, listID string, index int, value uint8) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.lists[listID]
	if !ok {
		return ErrNotFound
	}
	if index < 0 || index >= l.size() || !l.isAllocated(index) {
		return fmt.Errorf("%w: index %d is not allocated in list", ErrIndex, index)
	}
	var undo func()
	if l.bits != nil {
		if value > 1 {
			return fmt.Errorf("%w: %d for a bitstring list", ErrValue, value)
		}
		old := l.bits.Get(index)
		l.bits.Set(index, value == 1)
		undo = func() { l.bits.Set(index, old) }
	} else {
		if value > TokenSuspended {
			return fmt.Errorf("%w: %d", ErrValue, value)
		}
		old, _ := l.token.Get(index)
		l.token.Set(index, value)
		undo = func() { l.token.Set(index, old) }
	}
	oldUpdated := l.updated
	l.version++
	l.updated = s.now().UTC()
	if err := s.write(l); err != nil {
		undo()
		l.version--
		l.updated = oldUpdated
		return err
	}
	return nil
}

// Get returns the purpose of list and the status at index.
func (s *FileStore) Get(ctx context.Context, listID string, index int) (string, uint8, error) {
	if err := ctx.Err(); err != nil {
		return "", 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.lists[listID]
	if !ok {
		return "", 0, ErrNotFound
	}
	if index < 0 || index >= l.size() {
		return "", 0, fmt.Errorf("%w: %d", ErrIndex, index)
	}
	if l.bits != nil {
		if l.bits.Get(index) {
			return l.purpose, 1, nil
		}
		return l.purpose, 0, nil
	}
	v, err := l.token.Get(index)
	return l.purpose, v, err
}

// Snapshot returns a copy of the list.
func (s *FileStore) Snapshot(ctx context.Context, listID string) (Snapshot, error) {
	if err := ctx.Err(); err != nil {
		return Snapshot{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.lists[listID]
	if !ok {
		return Snapshot{}, ErrNotFound
	}
	snap := Snapshot{ID: l.id, Purpose: l.purpose, Version: l.version, Updated: l.updated}
	if l.bits != nil {
		snap.Bitstring = &Bitstring{bits: slices.Clone(l.bits.bits), n: l.bits.n}
	} else {
		snap.Token = &TokenList{bits: l.token.bits, data: slices.Clone(l.token.data), n: l.token.n}
	}
	return snap, nil
}

// Lists returns the IDs of every list, oldest first.
func (s *FileStore) Lists() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.order)
}

// String names the store without revealing anything else.
func (s *FileStore) String() string {
	return "statuslist.FileStore(" + strings.TrimSuffix(s.dir, "/") + ")"
}
