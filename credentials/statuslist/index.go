package statuslist

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// Ref names one status entry: a list, an index in it, and its purpose.
type Ref struct {
	ListID  string `json:"list"`
	Index   int    `json:"index"`
	Purpose string `json:"purpose"`
}

// ErrBound: a credential ID already has status entries.
var ErrBound = errors.New("statuslist: credential already has status entries")

const indexFile = "index.log"

// maxIndexLine bounds one line of the index log.
const maxIndexLine = 4096

type indexLine struct {
	Key  string `json:"key"` // hex SHA-256 of the credential ID
	Refs []Ref  `json:"refs"`
}

// indexKey hashes a credential ID: the index never stores IDs in clear (a
// caller-chosen ID could carry anything).
func indexKey(credentialID string) string {
	sum := sha256.Sum256([]byte("trustid status index\x00" + credentialID))
	return hex.EncodeToString(sum[:])
}

// loadIndex reads the append-only index. A torn last line (a crash during
// an append) is ignored; any other bad line is corruption.
func (s *FileStore) loadIndex() error {
	s.index = map[string][]Ref{}
	f, err := os.Open(filepath.Join(s.dir, indexFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("statuslist: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, maxIndexLine), maxIndexLine)
	var pending error
	for sc.Scan() {
		if pending != nil {
			return pending
		}
		var l indexLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil || len(l.Key) != 64 {
			pending = fmt.Errorf("%s: %w: bad index line", indexFile, ErrCorrupted)
			continue
		}
		s.index[l.Key] = l.Refs
	}
	return sc.Err()
}

// Bind records the status entries of a credential, durably (append and
// fsync) before returning. A credential ID can be bound once.
func (s *FileStore) Bind(ctx context.Context, credentialID string, refs []Ref) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if credentialID == "" || len(refs) == 0 || len(refs) > 8 {
		return fmt.Errorf("statuslist: bind needs a credential ID and 1..8 refs")
	}
	key := indexKey(credentialID)
	line, err := json.Marshal(indexLine{Key: key, Refs: refs})
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.index[key]; ok {
		return ErrBound
	}
	for _, r := range refs {
		l, ok := s.lists[r.ListID]
		if !ok || l.purpose != r.Purpose || r.Index < 0 || r.Index >= l.size() || !l.isAllocated(r.Index) {
			return fmt.Errorf("%w: ref to an unallocated entry", ErrIndex)
		}
	}
	f, err := os.OpenFile(filepath.Join(s.dir, indexFile), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("statuslist: %w", err)
	}
	_, err = f.Write(append(line, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("statuslist: index: %w", err)
	}
	s.index[key] = slices.Clone(refs)
	return nil
}

// Refs returns the status entries bound to a credential ID, or ErrNotFound.
func (s *FileStore) Refs(ctx context.Context, credentialID string) ([]Ref, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	refs, ok := s.index[indexKey(credentialID)]
	if !ok {
		return nil, ErrNotFound
	}
	return slices.Clone(refs), nil
}
