package chaincode

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/trustid-cn/trustid/internal/b64url"
)

// EventCredentialBindings is the event of BindCredentialIDs; its payload
// is a BindingsEvent.
const EventCredentialBindings = "trustid.status.bindings"

// MaxBindings bounds the bindings of one BindCredentialIDs transaction.
const MaxBindings = 1000

// maxBindingValue bounds a binding's value (base64url characters): a
// credential ID's encoding of 16 entries in 16 lists is under 300.
const maxBindingValue = 512

// maxTakenKeys bounds the keys an ErrBindingExists message names.
const maxTakenKeys = 100

// CredentialBinding binds a credential ID a request chose to its status
// entries and owner. Key is the hex HMAC-SHA-256 of the ID under the
// region's credential-ID key (never the ID itself, which is client text);
// Value is base64url of the entries and owner tag encoded as the region's
// minted credential IDs encode them (with their MAC), opaque to the
// contract.
type CredentialBinding struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// BindingsInput is BindCredentialIDs' argument.
type BindingsInput struct {
	Region   string              `json:"region"`
	Bindings []CredentialBinding `json:"bindings"`
}

// BindingsEvent is the payload of EventCredentialBindings: the bindings a
// transaction wrote (those already bound to the same value are left out).
type BindingsEvent struct {
	Region   string              `json:"region"`
	Bindings []CredentialBinding `json:"bindings"`
}

// BindingsResult is what BindCredentialIDs returns: how many bindings it
// wrote and how many were bound already to the same value (a replay).
type BindingsResult struct {
	Bound    int `json:"bound"`
	Replayed int `json:"replayed"`
}

// StoredBinding is a binding as the chain keeps it.
type StoredBinding struct {
	Region string `json:"region"`
	Key    string `json:"key"`
	Value  string `json:"value"`
	Tx     string `json:"tx"`
}

const objBinding = "binding"

var reBindingValue = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// check validates a binding's form: the contract cannot read the value
// (it has no key), only that it is a version-1 credential ID encoding.
func (b CredentialBinding) check() error {
	if !reHex256.MatchString(b.Key) {
		return invalid("binding key must be 64 lowercase hex digits (HMAC-SHA-256)")
	}
	if len(b.Value) > maxBindingValue || !reBindingValue.MatchString(b.Value) {
		return invalid("binding value must be 1 to %d base64url characters", maxBindingValue)
	}
	raw, err := b64url.DecodeString(b.Value)
	// version, member, owner tag (8), list count, ..., ref count, MAC (16)
	if err != nil || len(raw) < 1+1+8+1+8+1+3+16 || raw[0] != 1 {
		return invalid("binding value is not a version-1 credential ID encoding")
	}
	return nil
}

// bindCredentialIDs records bindings of the caller's region. The whole
// transaction is refused, writing nothing, when a binding is malformed or
// repeated, the region is not the caller's, or a key is bound to another
// value (ErrBindingExists, naming the keys). A key bound to the same
// value is a replay and left as it is.
func bindCredentialIDs(c *call) (any, error) {
	var in BindingsInput
	if err := decodeArg(c.args[0], &in); err != nil {
		return nil, err
	}
	if !ValidRegionCode(in.Region) {
		return nil, fmt.Errorf("%w: %.64q is not a GB/T 2260 province-level code", ErrUnknownRegion, in.Region)
	}
	if in.Region != c.caller {
		return nil, fmt.Errorf("%w: region %s binds only its own credential IDs, not %s's", ErrForbidden, c.caller, in.Region)
	}
	if len(in.Bindings) == 0 || len(in.Bindings) > MaxBindings {
		return nil, invalid("1 to %d bindings per transaction", MaxBindings)
	}
	seen := make(map[string]bool, len(in.Bindings))
	for _, b := range in.Bindings {
		if err := b.check(); err != nil {
			return nil, err
		}
		if seen[b.Key] {
			return nil, invalid("binding key %s repeated", b.Key)
		}
		seen[b.Key] = true
	}
	if _, err := c.activeCaller(); err != nil {
		return nil, err
	}
	res := BindingsResult{}
	ev := BindingsEvent{Region: c.caller, Bindings: []CredentialBinding{}}
	var taken []string
	for _, b := range in.Bindings {
		var old StoredBinding
		switch err := c.load(&old, objBinding, c.caller, b.Key); {
		case err == nil && old.Value == b.Value:
			res.Replayed++
			continue
		case err == nil:
			taken = append(taken, b.Key)
			continue
		case !errors.Is(err, ErrNotFound):
			return nil, err
		}
		if err := c.save(StoredBinding{Region: c.caller, Key: b.Key, Value: b.Value, Tx: c.st.TxID()}, objBinding, c.caller, b.Key); err != nil {
			return nil, err
		}
		ev.Bindings = append(ev.Bindings, b)
		res.Bound++
	}
	if len(taken) > 0 {
		return nil, fmt.Errorf("%w: keys %s", ErrBindingExists, strings.Join(taken[:min(len(taken), maxTakenKeys)], " "))
	}
	if len(ev.Bindings) == 0 {
		return res, nil
	}
	return res, c.emit(EventCredentialBindings, ev)
}

// getCredentialBinding: args region, key.
func getCredentialBinding(c *call) (any, error) {
	if !reHex256.MatchString(c.arg(1)) {
		return nil, invalid("binding key must be 64 lowercase hex digits")
	}
	var b StoredBinding
	return b, c.load(&b, objBinding, c.arg(0), c.arg(1))
}

// TakenKeys returns the binding keys an ErrBindingExists error names
// (at most 100 of them; a batch with more is refused again for the rest).
func TakenKeys(err error) []string {
	if !errors.Is(err, ErrBindingExists) {
		return nil
	}
	_, rest, ok := strings.Cut(err.Error(), "keys ")
	if !ok {
		return nil
	}
	var out []string
	for _, f := range strings.Fields(rest) {
		if reHex256.MatchString(f) && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}
