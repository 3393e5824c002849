package auth

import (
	"maps"
	"slices"
	"strings"

	"github.com/trustid-cn/trustid/internal/strictjson"
)

// maxClientPatch bounds a ClientPatch document, as a registration is.
const maxClientPatch = 64 << 10

// ClientPatch is an operator's change to a registered client's mutable
// metadata. Each field that is not nil replaces the client's; an empty
// value clears it (a client without grant types takes
// client_credentials, as a registration does). Fields left nil are kept.
//
// A client's ID, home region, authentication method, secret, sector
// identifier, state and creation time are not in it: they are what
// other records and every user's pairwise ID are bound to (register a new
// client instead), or have their own operations (AddKey and RetireKey,
// disabling). A sector identifier taken from a single redirect URI at
// registration is kept when the redirect URIs change, so the party's
// pairwise IDs do not change.
type ClientPatch struct {
	Name                   *string
	GrantTypes             *[]string
	Scopes                 *[]string
	Claims                 *[]string
	RedirectURIs           *[]string
	PostLogoutRedirectURIs *[]string
	Resources              *[]string
	IDTokenAlg             *string
	AccessTokenAlg         *string
}

// PatchMembers are the registration members a ClientPatch document may
// name (ParseClientPatch).
var PatchMembers = []string{
	"client_name", "grant_types", "scopes", "claims", "redirect_uris", "post_logout_redirect_uris",
	"resources", "id_token_signed_response_alg", "access_token_signed_response_alg",
}

// fixedMembers are the members of a client a patch cannot change, with
// why.
var fixedMembers = map[string]string{
	"client_id":                  "it names the client",
	"region":                     "a party belongs to its home region; register it in the other region",
	"token_endpoint_auth_method": "register a new client with the other method",
	"client_secret":              "register a new client with client_secret_basic",
	"secret_hash":                "register a new client with client_secret_basic",
	"jwks":                       "add and retire keys one at a time (key rotation)",
	"sector_identifier":          "it would change every user's pairwise ID at the party; register a new client",
	"disabled":                   "disable or enable the client instead",
	"created":                    "it is when the client was registered",
}

// ParseClientPatch decodes a JSON Merge Patch (RFC 7396) of a client's
// registration: an object naming some of PatchMembers, each an array of
// strings (a string for client_name and the algorithms), or null to
// clear it. Duplicate members, trailing data and documents over 64 KiB
// are refused, as are a member a patch cannot change (client_id, jwks,
// ...) and one no client has. {} is a valid patch that changes nothing
// (RFC 7396 §2; RFC 5789 §2.2 keeps 400 for a malformed one): its
// ClientPatch is Empty. Errors match
// ErrInvalidClientMetadata. The values are checked when the patch is
// applied (Client.Validate, as ClientStore.Update does).
func ParseClientPatch(data []byte) (ClientPatch, error) {
	if len(data) > maxClientPatch {
		return ClientPatch{}, fail(ErrInvalidClientMetadata, "patch over 64 KiB")
	}
	m, err := strictjson.Object(data, maxClientPatch)
	if err != nil {
		return ClientPatch{}, failWith(ErrInvalidClientMetadata, err, "the patch is not a JSON object: %s", SafeDescription(err.Error()))
	}
	var p ClientPatch
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v := m[k]
		var err error
		switch k {
		case "client_name":
			p.Name, err = patchString(k, v)
		case "id_token_signed_response_alg":
			p.IDTokenAlg, err = patchString(k, v)
		case "access_token_signed_response_alg":
			p.AccessTokenAlg, err = patchString(k, v)
		case "grant_types":
			p.GrantTypes, err = patchList(k, v)
		case "scopes":
			p.Scopes, err = patchList(k, v)
		case "claims":
			p.Claims, err = patchList(k, v)
		case "redirect_uris":
			p.RedirectURIs, err = patchList(k, v)
		case "post_logout_redirect_uris":
			p.PostLogoutRedirectURIs, err = patchList(k, v)
		case "resources":
			p.Resources, err = patchList(k, v)
		default:
			if why, ok := fixedMembers[k]; ok {
				return ClientPatch{}, fail(ErrInvalidClientMetadata, "%s cannot be changed: %s", k, why)
			}
			return ClientPatch{}, fail(ErrInvalidClientMetadata, "unknown member %s: a patch names some of %v", quoted(k), PatchMembers)
		}
		if err != nil {
			return ClientPatch{}, err
		}
	}
	return p, nil
}

// patchString reads member k of a patch: a string, or null for none.
func patchString(k string, v any) (*string, error) {
	switch v := v.(type) {
	case nil:
		return new(string), nil
	case string:
		s := strings.Clone(v)
		return &s, nil
	}
	return nil, fail(ErrInvalidClientMetadata, "%s must be a string or null", k)
}

// patchList reads member k of a patch: an array of strings, or null for
// none.
func patchList(k string, v any) (*[]string, error) {
	var out []string
	switch v := v.(type) {
	case nil:
	case []any:
		if len(v) > maxListLen {
			return nil, fail(ErrInvalidClientMetadata, "at most %d %s", maxListLen, k)
		}
		for i, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fail(ErrInvalidClientMetadata, "%s[%d] must be a string", k, i)
			}
			out = append(out, strings.Clone(s))
		}
	default:
		return nil, fail(ErrInvalidClientMetadata, "%s must be an array of strings or null", k)
	}
	return &out, nil
}

// Apply sets c's fields that p changes. It does not check the result:
// apply it within ClientStore.Update, which validates the client (and,
// on the ledger, the contract its resources, as for a new client) before
// storing it.
func (p ClientPatch) Apply(c *Client) {
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	setList := func(dst *[]string, v *[]string) {
		if v != nil {
			*dst = slices.Clone(*v)
			if len(*dst) == 0 {
				*dst = nil
			}
		}
	}
	set(&c.Name, p.Name)
	set(&c.IDTokenAlg, p.IDTokenAlg)
	set(&c.AccessTokenAlg, p.AccessTokenAlg)
	setList(&c.GrantTypes, p.GrantTypes)
	if len(c.GrantTypes) == 0 {
		c.GrantTypes = []string{GrantClientCredentials}
	}
	setList(&c.Scopes, p.Scopes)
	setList(&c.Claims, p.Claims)
	setList(&c.RedirectURIs, p.RedirectURIs)
	setList(&c.PostLogoutRedirectURIs, p.PostLogoutRedirectURIs)
	setList(&c.Resources, p.Resources)
}

// Empty reports whether p changes nothing.
func (p ClientPatch) Empty() bool { return p == ClientPatch{} }
