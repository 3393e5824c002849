package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/jsonfile"
	"github.com/trustid-cn/trustid/internal/strictjson"
)

// ClientStore is the registry of relying parties. Today it is a file in the
// node's data directory (FileStore); the trust registry on the ledger can
// mirror or replace it by implementing these four methods.
//
// Contract: Get returns ErrClientNotFound for an unknown ID; Create returns
// ErrClientExists when the ID is taken; Update returns ErrClientNotFound
// for an unknown ID, applies fn atomically (no update is lost to a
// concurrent one) and stores the result only when fn returns nil and the
// result passes Client.Validate. Returned clients are copies the caller may
// change. Other failures wrap ErrUnavailable. Implementations are safe for
// concurrent use.
type ClientStore interface {
	Get(ctx context.Context, id string) (Client, error)
	List(ctx context.Context) ([]Client, error)
	Create(ctx context.Context, c Client) error
	Update(ctx context.Context, id string, fn func(*Client) error) (Client, error)
}

var _ ClientStore = (*FileStore)(nil)

// clientsFormat names the file format of clients.json.
const clientsFormat = "trustid-clients/1"

// maxClientsFile bounds clients.json.
const maxClientsFile = 16 << 20

// DefaultReloadInterval is how often, at most, a FileStore checks whether
// its file changed.
const DefaultReloadInterval = time.Second

// FileStoreOptions configures OpenFileStore. The zero value checks the file
// for changes at most once a second against time.Now.
type FileStoreOptions struct {
	// ReloadInterval is the least time between two checks of the file's
	// modification time; a changed file is re-read. Zero means
	// DefaultReloadInterval; negative means never.
	ReloadInterval time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// OnReloadError is called when a changed file cannot be read; the
	// clients in memory are kept. Nil ignores such errors (they are retried
	// at the next check).
	OnReloadError func(error)
	// OnChange is called after the clients in memory changed (a write, or
	// a reload of a changed file), for example Service.ClientsChanged.
	OnChange func()
}

// FileStore keeps the registry in one JSON file (clients.json in the data
// directory), kept with internal/jsonfile. Writers in
// several processes (a running node and `trustid clients` commands)
// serialize on an advisory lock file beside it (clients.json.lock) and each
// re-reads the file before changing it, so no update is lost. A running
// node notices changes made by other processes by checking the file's
// modification time, size and identity at most once per ReloadInterval, on
// access, and also (at most ten times a second) when asked for a client ID
// it does not know, so a newly added client works at once.
type FileStore struct {
	file     *jsonfile.Registry[map[string]*Client] // immutable values; replaced, never changed
	interval time.Duration
	now      func() time.Time
	onErr    func(error)
	onChange func()

	nextCheck atomic.Int64 // unix nanoseconds
	lastMiss  atomic.Int64 // unix nanoseconds of the last check after a miss
}

// clientsFile is the JSON document in clients.json.
type clientsFile struct {
	Format  string   `json:"format"`
	Clients []Client `json:"clients"`
}

// OpenFileStore opens the registry file at path. A missing file is an empty
// registry, created at the first write; a damaged one is an error naming
// the file.
func OpenFileStore(path string, opts FileStoreOptions) (*FileStore, error) {
	s := &FileStore{interval: opts.ReloadInterval, now: opts.Now, onErr: opts.OnReloadError, onChange: opts.OnChange}
	if s.interval == 0 {
		s.interval = DefaultReloadInterval
	}
	if s.now == nil {
		s.now = time.Now
	}
	file, err := jsonfile.Open(path, jsonfile.Options[map[string]*Client]{
		Decode:  parseClientsFile,
		Encode:  marshalClients,
		Empty:   func() map[string]*Client { return map[string]*Client{} },
		MaxSize: maxClientsFile,
	})
	if err != nil {
		return nil, fmt.Errorf("auth: client registry %w", err)
	}
	s.file = file
	s.nextCheck.Store(s.now().Add(s.interval).UnixNano())
	return s, nil
}

// Path returns the registry file.
func (s *FileStore) Path() string { return s.file.Path() }

// parseClientsFile decodes clients.json strictly: known format, no unknown
// or repeated keys, no trailing data, every client valid, unique IDs.
func parseClientsFile(data []byte) (map[string]*Client, error) {
	var doc clientsFile
	if err := strictjson.Decode(data, &doc, maxClientsFile); err != nil {
		return nil, err
	}
	if doc.Format != clientsFormat {
		return nil, fmt.Errorf("format %q is not %q", truncate(doc.Format), clientsFormat)
	}
	clients := make(map[string]*Client, len(doc.Clients))
	for i := range doc.Clients {
		c := doc.Clients[i]
		if err := c.Validate(); err != nil {
			return nil, fmt.Errorf("client %d: %w", i, err)
		}
		if _, dup := clients[c.ID]; dup {
			return nil, fmt.Errorf("client %d: client_id %q is repeated", i, c.ID)
		}
		clients[c.ID] = &c
	}
	return clients, nil
}

func marshalClients(clients map[string]*Client) ([]byte, error) {
	doc := clientsFile{Format: clientsFormat, Clients: make([]Client, 0, len(clients))}
	for _, c := range clients {
		doc.Clients = append(doc.Clients, *c)
	}
	slices.SortFunc(doc.Clients, func(a, b Client) int { return strings.Compare(a.ID, b.ID) })
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// maybeReload re-reads the file if the reload interval passed and the file
// changed. Only one caller at a time does the check.
func (s *FileStore) maybeReload() {
	if s.interval < 0 {
		return
	}
	now := s.now().UnixNano()
	next := s.nextCheck.Load()
	if now < next || !s.nextCheck.CompareAndSwap(next, now+int64(s.interval)) {
		return
	}
	if err := s.Reload(); err != nil && s.onErr != nil {
		s.onErr(err)
	}
}

// Reload re-reads the file now if it changed since it was last read.
// On error the clients in memory are kept.
func (s *FileStore) Reload() error {
	changed, err := s.file.Reload()
	if err != nil {
		return fmt.Errorf("auth: client registry %w", err)
	}
	if changed {
		s.changed()
	}
	return nil
}

func (s *FileStore) changed() {
	if s.onChange != nil {
		s.onChange()
	}
}

// Get implements ClientStore.
func (s *FileStore) Get(ctx context.Context, id string) (Client, error) {
	if err := ctx.Err(); err != nil {
		return Client{}, err
	}
	s.maybeReload()
	c, ok := s.find(id)
	if !ok && s.missReload() {
		c, ok = s.find(id)
	}
	if !ok {
		return Client{}, ErrClientNotFound
	}
	return c.clone(), nil
}

func (s *FileStore) find(id string) (*Client, bool) {
	c, ok := s.file.Value()[id]
	return c, ok
}

// missReloadInterval bounds the file checks that unknown client IDs
// trigger, so a client registered a moment ago by `trustid clients add` is
// found at once, while a flood of unknown IDs costs at most ten checks a
// second.
const missReloadInterval = 100 * time.Millisecond

// missReload checks the file after a lookup missed, at most once per
// missReloadInterval, and reports whether it did.
func (s *FileStore) missReload() bool {
	if s.interval < 0 {
		return false
	}
	now := s.now().UnixNano()
	last := s.lastMiss.Load()
	if now-last < int64(missReloadInterval) || !s.lastMiss.CompareAndSwap(last, now) {
		return false
	}
	if err := s.Reload(); err != nil {
		if s.onErr != nil {
			s.onErr(err)
		}
		return false
	}
	return true
}

// List implements ClientStore, sorted by ID.
func (s *FileStore) List(ctx context.Context) ([]Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.maybeReload()
	clients := s.file.Value()
	out := make([]Client, 0, len(clients))
	for _, c := range clients {
		out = append(out, c.clone())
	}
	slices.SortFunc(out, func(a, b Client) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// Create implements ClientStore.
func (s *FileStore) Create(ctx context.Context, c Client) error {
	if err := c.Validate(); err != nil {
		return err
	}
	return s.modify(ctx, func(clients map[string]*Client) error {
		if _, ok := clients[c.ID]; ok {
			return ErrClientExists
		}
		cc := c.clone()
		clients[c.ID] = &cc
		return nil
	})
}

// Update implements ClientStore.
func (s *FileStore) Update(ctx context.Context, id string, fn func(*Client) error) (Client, error) {
	var out Client
	err := s.modify(ctx, func(clients map[string]*Client) error {
		old, ok := clients[id]
		if !ok {
			return ErrClientNotFound
		}
		c := old.clone()
		if err := fn(&c); err != nil {
			return err
		}
		if c.ID != id {
			return fail(ErrInvalidClientMetadata, "client_id cannot change")
		}
		if err := c.Validate(); err != nil {
			return err
		}
		clients[id] = &c
		out = c.clone()
		return nil
	})
	return out, err
}

// modify runs a read-modify-write of the file under both locks.
func (s *FileStore) modify(ctx context.Context, fn func(map[string]*Client) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := s.file.Update(func(clients map[string]*Client) (map[string]*Client, error) {
		return clients, fn(clients)
	})
	var ferr *jsonfile.Error
	if errors.As(err, &ferr) {
		msg := map[string]string{
			"mkdir":  "client registry is not writable",
			"lock":   "client registry is locked or not writable",
			"read":   "client registry cannot be read",
			"encode": "client registry cannot be encoded",
			"write":  "client registry cannot be written",
			"stat":   "client registry cannot be read back",
		}[ferr.Op]
		return failWith(ErrUnavailable, fmt.Errorf("auth: client registry %w", err), "%s", msg)
	}
	if err != nil {
		return err
	}
	s.changed()
	return nil
}

// ParseRegistration decodes a registration request strictly: no unknown or
// repeated keys, no trailing data, at most 64 KiB. The JWKS, if any, is
// checked as by ParseClientJWKS. Errors match ErrInvalidClientMetadata.
func ParseRegistration(data []byte) (Registration, error) {
	if len(data) > 64<<10 {
		return Registration{}, fail(ErrInvalidClientMetadata, "registration over 64 KiB")
	}
	var raw struct {
		Registration
		JWKS json.RawMessage `json:"jwks,omitempty"`
	}
	if err := strictjson.Decode(data, &raw, 64<<10); err != nil {
		return Registration{}, failWith(ErrInvalidClientMetadata, err, "registration is not valid JSON: %v", err)
	}
	reg := raw.Registration
	if len(raw.JWKS) > 0 && string(raw.JWKS) != "null" {
		set, err := ParseClientJWKS(raw.JWKS)
		if err != nil {
			return Registration{}, err
		}
		reg.JWKS = &set
	}
	return reg, nil
}

// KeyChange is an operator's change to a client's keys: add one key, or
// retire one kid.
type KeyChange struct {
	Add    *gm.JWK
	Retire string
}

// ParseKeyChange decodes {"add": JWK} or {"retire": "kid"} strictly.
func ParseKeyChange(data []byte) (KeyChange, error) {
	if len(data) > 16<<10 {
		return KeyChange{}, fail(ErrInvalidClientMetadata, "key change over 16 KiB")
	}
	var raw struct {
		Add    json.RawMessage `json:"add,omitempty"`
		Retire string          `json:"retire,omitempty"`
	}
	if err := strictjson.Decode(data, &raw, 16<<10); err != nil {
		return KeyChange{}, failWith(ErrInvalidClientMetadata, err, "key change is not valid JSON: %v", err)
	}
	hasAdd := len(raw.Add) > 0 && string(raw.Add) != "null"
	if hasAdd == (raw.Retire != "") {
		return KeyChange{}, fail(ErrInvalidClientMetadata, `give exactly one of "add" (a public JWK) or "retire" (a kid)`)
	}
	if raw.Retire != "" {
		return KeyChange{Retire: raw.Retire}, nil
	}
	set, err := ParseClientJWKS([]byte(`{"keys":[` + string(raw.Add) + `]}`))
	if err != nil {
		return KeyChange{}, err
	}
	return KeyChange{Add: &set.Keys[0]}, nil
}
