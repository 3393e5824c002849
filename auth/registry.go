package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/strictjson"
)

// ClientStore is the registry of relying parties. A node's is on the
// ledger (ledger/registry.NewHomeClients, read from the node's ledger
// view): its own region's parties only, so that a Service never
// authenticates another region's; MemoryStore keeps one in memory.
//
// Contract: Get returns ErrClientNotFound for an unknown ID; Create returns
// ErrClientExists when the ID is taken (and may stamp Created with the
// store's own registration time); Update returns ErrClientNotFound
// for an unknown ID, applies fn atomically (no update is lost to a
// concurrent one) and stores the result only when fn returns nil and the
// result passes Client.Validate. Create and Update refuse an enabled
// client that registers a resource (Client.Resources) another enabled
// client registered, with ErrInvalidClientMetadata: a client that drops
// a resource, or is disabled, frees it. They stamp the client's
// Client.ResourcesSince themselves, whatever the client given holds: an
// enabled client that registers a resource it did not hold, enabled,
// takes it at the store's time, and keeps that time while it holds it; a
// disabled client holds none. Returned clients are copies the caller may
// change. Other failures wrap ErrUnavailable. Implementations are safe for
// concurrent use.
type ClientStore interface {
	Get(ctx context.Context, id string) (Client, error)
	List(ctx context.Context) ([]Client, error)
	Create(ctx context.Context, c Client) error
	Update(ctx context.Context, id string, fn func(*Client) error) (Client, error)
}

var _ ClientStore = (*MemoryStore)(nil)

// clientsFormat names the file format of clients.json, the registry's
// import and export format (ParseClientsFile, MarshalClientsFile).
const clientsFormat = "trustid-clients/1"

// maxClientsFile bounds clients.json.
const maxClientsFile = 16 << 20

// MemoryStore is a ClientStore in memory, for a process that keeps its own
// registry (tests, tools); a node's registry is on the ledger
// (ledger/registry.Clients).
type MemoryStore struct {
	// Now is the store's clock, which stamps when a client took a
	// resource (Client.ResourcesSince); nil means time.Now. Set it
	// before the store's first use.
	Now func() time.Time

	onChange func()

	mu      sync.Mutex
	clients map[string]Client
}

// NewMemoryStore returns an empty store; onChange, if not nil, is called
// after each change (for example Service.ClientsChanged).
func NewMemoryStore(onChange func()) *MemoryStore {
	return &MemoryStore{onChange: onChange, clients: map[string]Client{}}
}

// Get implements ClientStore.
func (s *MemoryStore) Get(ctx context.Context, id string) (Client, error) {
	if err := ctx.Err(); err != nil {
		return Client{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[id]
	if !ok {
		return Client{}, ErrClientNotFound
	}
	return c.clone(), nil
}

// List implements ClientStore, sorted by ID.
func (s *MemoryStore) List(ctx context.Context) ([]Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Client, 0, len(s.clients))
	for _, c := range s.clients {
		out = append(out, c.clone())
	}
	slices.SortFunc(out, func(a, b Client) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// Create implements ClientStore.
func (s *MemoryStore) Create(ctx context.Context, c Client) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := c.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	if _, ok := s.clients[c.ID]; ok {
		s.mu.Unlock()
		return ErrClientExists
	}
	if err := resourceTaken(s.clients, &c); err != nil {
		s.mu.Unlock()
		return err
	}
	c.takeResources(nil, s.now())
	s.clients[c.ID] = c.clone()
	s.mu.Unlock()
	s.changed()
	return nil
}

// Update implements ClientStore.
func (s *MemoryStore) Update(ctx context.Context, id string, fn func(*Client) error) (Client, error) {
	if err := ctx.Err(); err != nil {
		return Client{}, err
	}
	s.mu.Lock()
	old, ok := s.clients[id]
	if !ok {
		s.mu.Unlock()
		return Client{}, ErrClientNotFound
	}
	c := old.clone()
	err := fn(&c)
	if err == nil && c.ID != id {
		err = fail(ErrInvalidClientMetadata, "client_id cannot change")
	}
	if err == nil {
		err = c.Validate()
	}
	if err == nil {
		err = resourceTaken(s.clients, &c)
	}
	if err != nil {
		s.mu.Unlock()
		return Client{}, err
	}
	c.takeResources(&old, s.now())
	s.clients[id] = c.clone()
	s.mu.Unlock()
	s.changed()
	return c, nil
}

func (s *MemoryStore) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// takeResources sets c.ResourcesSince (ClientStore): a resource of c,
// enabled, that old (the stored client; nil for a new one), enabled,
// held keeps its time; one it takes is stamped now. A disabled client
// holds none.
func (c *Client) takeResources(old *Client, now time.Time) {
	c.ResourcesSince = nil
	if c.Disabled {
		return
	}
	for _, r := range c.Resources {
		t := now
		if old != nil && !old.Disabled && old.Serves(r) {
			t = old.ResourcesSince[r]
		}
		if !t.IsZero() {
			if c.ResourcesSince == nil {
				c.ResourcesSince = map[string]time.Time{}
			}
			c.ResourcesSince[r] = t
		}
	}
}

// resourceTaken refuses c, enabled, when another enabled client of
// clients registered one of its resources: a resource names one party's
// API. A disabled client holds none (the token endpoint serves none of
// its APIs), as on the ledger.
func resourceTaken(clients map[string]Client, c *Client) error {
	for _, o := range clients {
		if o.ID == c.ID {
			continue
		}
		if i := o.holdsResourceOf(c); i >= 0 {
			return fail(ErrInvalidClientMetadata, "resources[%d] is registered by another client", i)
		}
	}
	return nil
}

// holdsResourceOf returns the index in c.Resources of a resource that o
// registered while both are enabled; -1 if none.
func (o *Client) holdsResourceOf(c *Client) int {
	if o.Disabled || c.Disabled {
		return -1
	}
	return slices.IndexFunc(c.Resources, o.Serves)
}

func (s *MemoryStore) changed() {
	if s.onChange != nil {
		s.onChange()
	}
}

// clientsFile is the JSON document of clients.json.
type clientsFile struct {
	Format  string   `json:"format"`
	Clients []Client `json:"clients"`
}

// parseClientsFile decodes clients.json strictly: known format, no unknown
// or repeated keys, no trailing data, every client valid, unique IDs.
func parseClientsFile(data []byte) (map[string]*Client, error) {
	doc, err := decodeClientsFile(data)
	if err != nil {
		return nil, err
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
		for _, o := range clients {
			if j := o.holdsResourceOf(&c); j >= 0 {
				return nil, fmt.Errorf("client %d: resources[%d] is registered by client %q too", i, j, o.ID)
			}
		}
		clients[c.ID] = &c
	}
	return clients, nil
}

// decodeClientsFile decodes clients.json strictly (known format, no
// unknown or repeated keys, no trailing data) without checking its
// clients.
func decodeClientsFile(data []byte) (clientsFile, error) {
	var doc clientsFile
	if err := strictjson.Decode(data, &doc, maxClientsFile); err != nil {
		return doc, err
	}
	if doc.Format != clientsFormat {
		return doc, fmt.Errorf("format %q is not %q", truncate(doc.Format), clientsFormat)
	}
	return doc, nil
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
		return Registration{}, failWith(ErrInvalidClientMetadata, err, "registration is not valid JSON: %s", SafeDescription(err.Error()))
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
		return KeyChange{}, failWith(ErrInvalidClientMetadata, err, "key change is not valid JSON: %s", SafeDescription(err.Error()))
	}
	hasAdd := len(raw.Add) > 0 && string(raw.Add) != "null"
	if hasAdd == (raw.Retire != "") {
		return KeyChange{}, fail(ErrInvalidClientMetadata, "give exactly one of 'add' (a public JWK) or 'retire' (a kid)")
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

// ParseClientsFile decodes a clients.json document (format
// trustid-clients/1, the import/export format of the registry) strictly,
// and returns its clients sorted by ID.
func ParseClientsFile(data []byte) ([]Client, error) {
	if len(data) > maxClientsFile {
		return nil, fmt.Errorf("auth: clients file over %d bytes", maxClientsFile)
	}
	m, err := parseClientsFile(data)
	if err != nil {
		return nil, fmt.Errorf("auth: clients file: %w", err)
	}
	out := make([]Client, 0, len(m))
	for _, c := range m {
		out = append(out, c.clone())
	}
	slices.SortFunc(out, func(a, b Client) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// ParseClientsFileEach is ParseClientsFile for an import that goes on
// past a client that is not valid (a file an older version wrote, under
// wider limits): it returns the valid clients sorted by ID and one error
// for each other client, naming its client_id, matching
// ErrInvalidClientMetadata. A document that is no clients file, or that
// repeats a client_id, is an error as in ParseClientsFile.
func ParseClientsFileEach(data []byte) (valid []Client, refused []error, err error) {
	if len(data) > maxClientsFile {
		return nil, nil, fmt.Errorf("auth: clients file over %d bytes", maxClientsFile)
	}
	doc, err := decodeClientsFile(data)
	if err != nil {
		return nil, nil, fmt.Errorf("auth: clients file: %w", err)
	}
	seen := make(map[string]bool, len(doc.Clients))
	for i, c := range doc.Clients {
		if seen[c.ID] {
			return nil, nil, fmt.Errorf("auth: clients file: client %d: client_id %q is repeated", i, truncate(c.ID))
		}
		seen[c.ID] = true
		if err := c.Validate(); err != nil {
			refused = append(refused, fmt.Errorf("client %d (client_id %q): %w", i, truncate(c.ID), err))
			continue
		}
		valid = append(valid, c.clone())
	}
	slices.SortFunc(valid, func(a, b Client) int { return strings.Compare(a.ID, b.ID) })
	return valid, refused, nil
}

// MarshalClientsFile encodes clients as a clients.json document.
func MarshalClientsFile(clients []Client) ([]byte, error) {
	m := make(map[string]*Client, len(clients))
	for i := range clients {
		m[clients[i].ID] = &clients[i]
	}
	return marshalClients(m)
}
