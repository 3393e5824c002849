package qrcode

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Relationship says why the actor may act for the principal.
type Relationship uint8

// Relationships.
const (
	RelGuardian Relationship = iota + 1 // legal guardian of a minor or ward
	RelFamily                           // family member
	RelAgent                            // other authorized agent
)

func (r Relationship) String() string {
	switch r {
	case RelGuardian:
		return "guardian"
	case RelFamily:
		return "family member"
	case RelAgent:
		return "agent"
	}
	return "unknown"
}

// Actions a delegation can allow. Scopes may also hold other short tokens
// ([a-z0-9_.:-], up to 32 bytes) agreed with verifiers.
const (
	// ActionPresent: show the principal's identity (the default action of
	// a verification that names none).
	ActionPresent = "present"
	// ActionPickup: collect mail, parcels or documents for the principal.
	ActionPickup = "pickup"
	// ActionBenefits: apply for or collect benefits.
	ActionBenefits = "benefits"
	// ActionMedical: act at a hospital or pharmacy.
	ActionMedical = "medical"
	// ActionLogin: approve logins to relying parties (OpenID Connect) as
	// the principal. Apart from ActionPresent: a delegation to show the
	// principal's identity does not log them in, nor the reverse.
	ActionLogin = "login"
)

// Delegation is an issuer-signed statement that an actor (a guardian or
// family member) may act for a principal (a minor, an elderly person) for
// the actions in Scope, between NotBefore and Expiry. It is attached to the
// actor's offline code; verification yields "presented by actor on behalf
// of principal" and refuses actions outside Scope.
type Delegation struct {
	Actor     []byte // symbol-derived subject of the presenter
	Principal []byte // symbol-derived subject of the person acted for
	// ActorName and PrincipalName are optional masked names for display
	// (identity.MaskName output), never full names.
	ActorName, PrincipalName string
	Relationship             Relationship
	Scope                    []string
	NotBefore, Expiry        time.Time
	Status                   StatusRef
}

type delegationWire struct {
	Actor         []byte   `cbor:"1,keyasint"`
	Principal     []byte   `cbor:"2,keyasint"`
	Relationship  *uint8   `cbor:"3,keyasint"`
	Scope         []string `cbor:"4,keyasint"`
	NotBefore     *uint64  `cbor:"5,keyasint"`
	Expiry        *uint64  `cbor:"6,keyasint"`
	Region        *uint32  `cbor:"7,keyasint"`
	StatusList    *uint32  `cbor:"8,keyasint"`
	StatusIndex   *uint32  `cbor:"9,keyasint"`
	ActorName     string   `cbor:"10,keyasint,omitempty"`
	PrincipalName string   `cbor:"11,keyasint,omitempty"`
}

// IssueDelegation signs a delegation and returns its wire form, which the
// actor's app attaches to its offline codes.
func (is *Issuer) IssueDelegation(d Delegation) ([]byte, error) {
	if err := is.check(); err != nil {
		return nil, err
	}
	w := delegationWire{
		Actor: d.Actor, Principal: d.Principal, Relationship: ptr(uint8(d.Relationship)),
		Scope: d.Scope, NotBefore: ptr(unix(d.NotBefore)), Expiry: ptr(unix(d.Expiry)),
		Region: ptr(is.Region), StatusList: ptr(d.Status.List), StatusIndex: ptr(d.Status.Index),
		ActorName: d.ActorName, PrincipalName: d.PrincipalName,
	}
	if _, err := w.check(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	return is.sign(ctxDelegation, marshal(w))
}

func (w *delegationWire) check() (Delegation, error) {
	if w.Relationship == nil || w.NotBefore == nil || w.Expiry == nil || w.Region == nil || w.StatusList == nil || w.StatusIndex == nil {
		return Delegation{}, malformed("delegation: missing field")
	}
	if err := checkSubject(w.Actor); err != nil {
		return Delegation{}, fmt.Errorf("delegation actor: %w", err)
	}
	if err := checkSubject(w.Principal); err != nil {
		return Delegation{}, fmt.Errorf("delegation principal: %w", err)
	}
	if slices.Equal(w.Actor, w.Principal) {
		return Delegation{}, malformed("delegation: actor and principal are the same")
	}
	if r := Relationship(*w.Relationship); r < RelGuardian || r > RelAgent {
		return Delegation{}, malformed("delegation: relationship %d", *w.Relationship)
	}
	if len(w.Scope) == 0 || len(w.Scope) > MaxScope {
		return Delegation{}, malformed("delegation: scope must hold 1 to %d actions", MaxScope)
	}
	for i, a := range w.Scope {
		if !ValidToken(a) || slices.Contains(w.Scope[:i], a) {
			return Delegation{}, malformed("delegation: scope action is not a unique short token")
		}
	}
	if *w.NotBefore == 0 || *w.Expiry <= *w.NotBefore || *w.Expiry > maxTime {
		return Delegation{}, malformed("delegation: validity out of range")
	}
	if !validRegionCode(*w.Region) {
		return Delegation{}, malformed("delegation: region %d", *w.Region)
	}
	// Masked names only, as on a static code: a name, when given, must
	// carry the mask.
	for _, n := range []string{w.ActorName, w.PrincipalName} {
		if len(n) > MaxMaskedLen || !utf8.ValidString(n) || (n != "" && !strings.Contains(n, "*")) {
			return Delegation{}, malformed("delegation: name must be masked and at most %d bytes", MaxMaskedLen)
		}
	}
	return Delegation{
		Actor: w.Actor, Principal: w.Principal, ActorName: w.ActorName, PrincipalName: w.PrincipalName,
		Relationship: Relationship(*w.Relationship), Scope: w.Scope,
		NotBefore: fromUnix(*w.NotBefore), Expiry: fromUnix(*w.Expiry),
		Status: StatusRef{Region: *w.Region, List: *w.StatusList, Index: *w.StatusIndex},
	}, nil
}

// ParseDelegation decodes a delegation's wire form WITHOUT verifying it.
func ParseDelegation(raw []byte) (Delegation, error) {
	d, _, err := decodeDelegation(raw)
	return d, err
}

func decodeDelegation(raw []byte) (Delegation, signed, error) {
	s, err := decodeSigned(raw, "delegation")
	if err != nil {
		return Delegation{}, s, err
	}
	var w delegationWire
	if err := unmarshal(s.Payload, &w, "delegation claims"); err != nil {
		return Delegation{}, s, err
	}
	d, err := w.check()
	return d, s, err
}
