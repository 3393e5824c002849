package login

import "strings"

// Purpose is what another protocol's login is for (AuthorizeFor), shown
// to the holder with the client's name. It is kept as data, not words,
// so that each page language can word it.
type Purpose struct {
	// Action is what the holder does: PurposeReceive.
	Action string `json:"action"`
	// Objects are what the action is about (credential types) and From
	// the party they come from.
	Objects []string `json:"objects,omitempty"`
	From    string   `json:"from,omitempty"`
}

// PurposeReceive: receive Objects (credentials) from From.
const PurposeReceive = "receive"

// String words the purpose in English, as the holder's app is told it
// (Request.Purpose); "" for none.
func (p *Purpose) String() string {
	if p == nil || p.Action == "" {
		return ""
	}
	return p.Action + " " + strings.Join(p.Objects, ", ") + " from " + p.From
}
