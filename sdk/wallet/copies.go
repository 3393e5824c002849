package wallet

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
)

// boundStore is a CredentialStore that knows each credential's key and
// batch: Respond signs a credential's KB-JWT with its own key and shows
// each verifier its own copy of a batch.
type boundStore interface {
	CredentialStore
	// pick returns the copy of id's batch to show verifier (recording
	// it) and the KeyStore alias of that copy's key.
	pick(id, verifier string) (copyID, alias string, err error)
}

// StoredCredentials presents the SD-JWT VCs of a Store (as AcceptOffer
// saved them) to OID4VP verifiers. Each presentation is signed with the
// key the credential's cnf names (its key_alias), and each verifier gets
// a copy of the batch no other verifier was shown: the same verifier gets
// the same copy again. When every copy has been shown to another
// verifier, the copy shown to the fewest is reused (the lowest ID among
// equals): those verifiers can then link the presentations, so an app
// should fetch a new batch before that happens. Safe for concurrent use.
type StoredCredentials struct {
	mu    sync.Mutex
	store Store
}

var _ boundStore = (*StoredCredentials)(nil)

// NewStoredCredentials returns the OID4VP view of store.
func NewStoredCredentials(store Store) *StoredCredentials {
	return &StoredCredentials{store: store}
}

// IDs implements CredentialStore.
func (s *StoredCredentials) IDs() (string, error) { return s.store.List() }

// Get implements CredentialStore.
func (s *StoredCredentials) Get(id string) (string, error) {
	c, err := LoadCredential(s.store, id)
	if err != nil {
		return "", err
	}
	return c.Credential, nil
}

// shownRecord is a Store record with the verifiers (client_id) its
// credential was presented to.
type shownRecord struct {
	StoredCredential
	ShownTo []string `json:"shown_to,omitempty"`
}

func (s *StoredCredentials) load(id string) (*shownRecord, error) {
	raw, err := s.store.Load(id)
	if err != nil {
		return nil, err
	}
	var c shownRecord
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("%w: stored record: %v", ErrInvalidArgument, err)
	}
	return &c, nil
}

func (s *StoredCredentials) pick(id, verifier string) (string, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.load(id)
	if err != nil {
		return "", "", err
	}
	if c.KeyAlias == "" {
		return "", "", fmt.Errorf("%w: credential %q has no key alias", ErrInvalidArgument, id)
	}
	if c.Batch == "" {
		return id, c.KeyAlias, s.record(id, c, verifier)
	}
	list, err := s.store.List()
	if err != nil {
		return "", "", err
	}
	names := splitList(list)
	slices.Sort(names) // among copies shown alike, the lowest ID
	var ids []string
	var recs []*shownRecord
	var shown [][]string
	for _, other := range names {
		o, err := s.load(other)
		if err != nil {
			return "", "", err
		}
		if o.Batch == c.Batch {
			ids, recs, shown = append(ids, other), append(recs, o), append(shown, o.ShownTo)
		}
	}
	i := leastShown(shown, verifier)
	return ids[i], recs[i].KeyAlias, s.record(ids[i], recs[i], verifier)
}

// leastShown returns the index, among copies each shown to the parties
// shown[i], of the one already shown to party, else of the one shown to
// the fewest (the first among equals): a party sees the same copy each
// time, and a new party the copy that links the fewest.
func leastShown(shown [][]string, party string) int {
	best := -1
	for i, parties := range shown {
		if slices.Contains(parties, party) {
			return i
		}
		if best < 0 || len(parties) < len(shown[best]) {
			best = i
		}
	}
	return best
}

// record adds verifier to the copy's ShownTo and saves it.
func (s *StoredCredentials) record(id string, c *shownRecord, verifier string) error {
	if slices.Contains(c.ShownTo, verifier) {
		return nil
	}
	c.ShownTo = append(c.ShownTo, verifier)
	rec, _ := json.Marshal(c)
	return s.store.Save(id, rec)
}
