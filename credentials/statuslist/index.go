package statuslist

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/trustid-cn/trustid/credentials/status"
)

const indexFile = "index.log"

// maxIndexLine bounds one line of the index log.
const maxIndexLine = 4096

// maxOwner bounds an owner tag (BindOwner).
const maxOwner = 128

type indexLine struct {
	Key  string       `json:"key"` // hex SHA-256 of the credential ID
	Refs []status.Ref `json:"refs"`
	// Owner is the caller's opaque owner tag (a hash of the issuing
	// client, never the client in clear); empty for none.
	Owner string `json:"owner,omitempty"`
}

// IndexRecovery says what OpenFileStore found in the index log.
type IndexRecovery struct {
	// Records is the number of bindings loaded.
	Records int
	// TornBytes is the length of an incomplete last record (a crash during
	// an append, before the append was acknowledged) that was cut off the
	// file; 0 when the file ended cleanly.
	TornBytes int64
}

// IndexRecovery reports what opening the store found in its index log, for
// the caller to log.
func (s *FileStore) IndexRecovery() IndexRecovery { return s.recovery }

// indexKey hashes a credential ID: the index never stores IDs in clear (a
// caller-chosen ID could carry anything).
func indexKey(credentialID string) string {
	sum := sha256.Sum256([]byte("trustid status index\x00" + credentialID))
	return hex.EncodeToString(sum[:])
}

// loadIndex reads the append-only index. Every acknowledged record ends
// in '\n' (the newline is part of the one write that is fsynced before
// Bind returns), so bytes after the last '\n' are a torn record that was
// never acknowledged: they are cut off the file, and the cut fsynced,
// before any new record is appended (otherwise the next record would be
// glued to the torn one, and that line would be unreadable at the next
// start). Any bad complete line is corruption.
func (s *FileStore) loadIndex() error {
	s.index = map[string]indexLine{}
	path := filepath.Join(s.dir, indexFile)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("statuslist: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64<<10)
	var good int64 // length of the complete lines read
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) || (len(line) > maxIndexLine && err == nil) {
			return fmt.Errorf("%s: %w: index line too long", indexFile, ErrCorrupted)
		}
		if errors.Is(err, io.EOF) {
			if len(line) > 0 {
				return s.cutTorn(f, good, int64(len(line)))
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("statuslist: %s: %w", indexFile, err)
		}
		l, err := parseIndexLine(line)
		if err != nil {
			return fmt.Errorf("%s: %w: bad index line at offset %d", indexFile, ErrCorrupted, good)
		}
		s.index[l.Key] = l
		s.recovery.Records = len(s.index)
		good += int64(len(line))
	}
}

// parseIndexLine reads one whole line of the index, '\n' included.
func parseIndexLine(line []byte) (indexLine, error) {
	var l indexLine
	if err := json.Unmarshal(bytes.TrimSuffix(line, []byte{'\n'}), &l); err != nil {
		return indexLine{}, err
	}
	if len(l.Key) != 64 || len(l.Owner) > maxOwner {
		return indexLine{}, errors.New("bad key or owner")
	}
	return l, nil
}

// cutTorn truncates the index file to its complete records.
func (s *FileStore) cutTorn(f *os.File, good, torn int64) error {
	if err := f.Truncate(good); err != nil {
		return fmt.Errorf("statuslist: cutting a torn index record: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("statuslist: cutting a torn index record: %w", err)
	}
	s.recovery.TornBytes = torn
	return nil
}

// Bind records the status entries of a credential, durably (append and
// fsync; concurrent binds share one of each) before returning. A
// credential ID can be bound once. It is BindOwner with no owner.
func (s *FileStore) Bind(ctx context.Context, credentialID string, refs []status.Ref) error {
	return s.BindOwner(ctx, credentialID, "", refs)
}

// BindOwner is Bind that also records owner, an opaque tag of at most 128
// bytes (callers pass a hash, never an identifier in clear) that
// OwnedBy later compares.
func (s *FileStore) BindOwner(ctx context.Context, credentialID, owner string, refs []status.Ref) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if credentialID == "" || len(refs) == 0 || len(refs) > 8 {
		return fmt.Errorf("statuslist: bind needs a credential ID and 1..8 refs")
	}
	if len(owner) > maxOwner {
		return fmt.Errorf("statuslist: owner tag longer than %d bytes", maxOwner)
	}
	rec := indexLine{Key: indexKey(credentialID), Refs: slices.Clone(refs), Owner: owner}
	line, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if len(line) >= maxIndexLine {
		return fmt.Errorf("statuslist: index record too long")
	}
	b := &binding{rec: rec, line: append(line, '\n')}
	if err := s.binds.Do(b); err != nil {
		return err
	}
	return b.err
}

// binding is one BindOwner waiting for its group.
type binding struct {
	rec  indexLine
	line []byte
	err  error // this binding alone was refused
}

// commitBinds appends a group of bindings to the index file in one write
// and one fsync, then adds them to memory. A binding of an ID bound before
// or earlier in the group, or to an unallocated entry, is refused alone.
// If the write fails, the file is cut back to its previous end (so the
// next record does not follow a partial one) and the group fails; if even
// that fails, every later binding fails too.
func (s *FileStore) commitBinds(bs []*binding) error {
	if s.indexErr != nil {
		return s.indexErr
	}
	var buf []byte
	var ok []*binding
	group := map[string]bool{}
	s.mu.RLock()
	for _, b := range bs {
		_, bound := s.index[b.rec.Key]
		switch {
		case bound || group[b.rec.Key]:
			b.err = status.ErrBound
		case !s.allocated(b.rec.Refs):
			b.err = fmt.Errorf("%w: ref to an unallocated entry", status.ErrIndex)
		default:
			group[b.rec.Key] = true
			buf = append(buf, b.line...)
			ok = append(ok, b)
		}
	}
	s.mu.RUnlock()
	if len(ok) == 0 {
		return nil
	}
	f, err := os.OpenFile(filepath.Join(s.dir, indexFile), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("statuslist: %w", err)
	}
	defer f.Close()
	end, err := f.Seek(0, io.SeekEnd)
	if err == nil {
		if _, err = f.Write(buf); err == nil {
			err = f.Sync()
		}
		if err != nil {
			if terr := f.Truncate(end); terr != nil {
				s.indexErr = fmt.Errorf("statuslist: index unusable after a failed append: %w", terr)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("statuslist: index: %w", err)
	}
	s.mu.Lock()
	for _, b := range ok {
		s.index[b.rec.Key] = b.rec
	}
	s.mu.Unlock()
	return nil
}

// Allocated reports whether every ref names an allocated entry of a list
// of its purpose in this store.
func (s *FileStore) Allocated(refs []status.Ref) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.allocated(refs)
}

// allocated reports whether every ref names an allocated entry of a list
// of its purpose. The caller holds s.mu.
func (s *FileStore) allocated(refs []status.Ref) bool {
	for _, r := range refs {
		l, ok := s.lists[r.ListID]
		if !ok || l.purpose != r.Purpose || r.Index < 0 || r.Index >= l.size() || !l.isAllocated(r.Index) {
			return false
		}
	}
	return true
}

// Refs returns the status entries bound to a credential ID, or ErrNotFound.
func (s *FileStore) Refs(ctx context.Context, credentialID string) ([]status.Ref, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	rec, ok := s.index[indexKey(credentialID)]
	if !ok {
		return nil, status.ErrNotFound
	}
	return slices.Clone(rec.Refs), nil
}

// OwnedBy reports whether the credential ID was bound with owner tag
// owner (compared in constant time). A binding without an owner is owned
// by nobody. An unknown ID gives ErrNotFound.
func (s *FileStore) OwnedBy(ctx context.Context, credentialID, owner string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	s.mu.RLock()
	rec, ok := s.index[indexKey(credentialID)]
	s.mu.RUnlock()
	if !ok {
		return false, status.ErrNotFound
	}
	return rec.Owner != "" && subtle.ConstantTimeCompare([]byte(rec.Owner), []byte(owner)) == 1, nil
}
