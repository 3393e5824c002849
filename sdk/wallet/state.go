package wallet

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/trustid-cn/trustid/internal/strictjson"
)

// stateVersion is the version of the state State writes. (Wallets before
// it persisted one copy as Binding, IdentityCredential, a counter and
// BindingCredential: Restore and SetBindingCredential read that.)
const stateVersion = 2

// maxState bounds the state RestoreState reads (16 copies of a few KiB,
// and the parties they were shown to).
const maxState = 4 << 20

// walletState is the JSON of State.
type walletState struct {
	Version int         `json:"version"`
	Copies  []stateCopy `json:"copies"`
}

type stateCopy struct {
	KeyAlias           string   `json:"key_alias"`
	QRBinding          []byte   `json:"qr_binding"`
	IdentityCredential string   `json:"identity_credential,omitempty"`
	BindingCredential  string   `json:"binding_credential,omitempty"`
	Counter            int64    `json:"counter"`
	Parties            []string `json:"parties,omitempty"`
}

// State returns the wallet's state to persist (JSON, version 2): every
// copy with its key alias, QR binding, credentials, offline code counter
// and the parties it was shown to. It holds no private key (those stay in
// the KeyStore) but links the copies: keep it in the app's protected
// storage.
func (w *Holder) State() (string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.copies == nil {
		return "", ErrNotEnrolled
	}
	st := walletState{Version: stateVersion, Copies: make([]stateCopy, len(w.copies))}
	for i, c := range w.copies {
		st.Copies[i] = stateCopy{KeyAlias: c.alias, QRBinding: c.binding, IdentityCredential: c.credential,
			BindingCredential: c.bindingCredential, Counter: c.counter, Parties: c.parties}
	}
	b, err := json.Marshal(st)
	return string(b), err
}

// RestoreState sets the wallet's state from what State returned, read
// strictly (no unknown or repeated members, nothing after it). Each
// copy's binding (and binding credential) must be bound to the key under
// its alias, the first copy's alias must be the device key's, and no
// alias or party may appear twice.
func (w *Holder) RestoreState(state string) error {
	var st walletState
	if err := strictjson.Decode([]byte(state), &st, maxState); err != nil {
		return fmt.Errorf("%w: wallet state: %v", ErrInvalidArgument, err)
	}
	switch {
	case st.Version != stateVersion:
		return fmt.Errorf("%w: wallet state version %d (this wallet reads %d)", ErrInvalidArgument, st.Version, stateVersion)
	case len(st.Copies) == 0 || len(st.Copies) > DefaultCopies:
		return fmt.Errorf("%w: wallet state: 1 to %d copies", ErrInvalidArgument, DefaultCopies)
	case st.Copies[0].KeyAlias != w.alias:
		return fmt.Errorf("%w: wallet state: the first copy is not the device key's", ErrInvalidArgument)
	}
	copies := make([]*enrolledCopy, len(st.Copies))
	var aliases, parties []string
	for i, sc := range st.Copies {
		c, err := w.newCopy(sc.KeyAlias, sc.QRBinding, sc.IdentityCredential, sc.BindingCredential, sc.Counter)
		if err != nil {
			return err
		}
		if slices.Contains(aliases, sc.KeyAlias) {
			return fmt.Errorf("%w: wallet state: key alias %q twice", ErrInvalidArgument, sc.KeyAlias)
		}
		for _, p := range sc.Parties {
			if slices.Contains(parties, p) {
				return fmt.Errorf("%w: wallet state: party %q has two copies", ErrInvalidArgument, p)
			}
			parties = append(parties, p)
		}
		aliases = append(aliases, sc.KeyAlias)
		c.parties = slices.Clone(sc.Parties)
		copies[i] = c
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.copies = copies
	return nil
}
