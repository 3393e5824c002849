package credentials

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// VCTPath is where, under a node's base URL, the vct of each type it
// names lives: an SD-JWT VC of type T issued through the node has vct
// <base>/vct/T, a URL in the node's own domain (a collision-resistant name,
// as draft-ietf-oauth-sd-jwt-vc requires of vct) that answers with the
// type's Type Metadata.
const VCTPath = "/vct/"

// TypeVCT is the vct of type typ issued through the node at base.
func TypeVCT(base, typ string) string { return strings.TrimSuffix(base, "/") + VCTPath + typ }

// VCTType returns the type name a vct of the node at base stands for:
// T for <base>/vct/T with T a type name (a CamelCase word), else "" and
// false.
func VCTType(base, vct string) (string, bool) {
	if base == "" {
		return "", false
	}
	// base's prefix, then VCTPath (not the two joined: a string built
	// for every type of every credential verified).
	rest, ok := strings.CutPrefix(vct, strings.TrimSuffix(base, "/"))
	name, ok2 := strings.CutPrefix(rest, VCTPath)
	if !ok || !ok2 || !typeNameRE.MatchString(name) {
		return "", false
	}
	return name, true
}

// typeNameRE is a type name TrustID defines or accredits: a CamelCase word.
var typeNameRE = regexp.MustCompile(`^[A-Z][A-Za-z0-9]{2,63}$`)

// TypeMetadata is the Type Metadata of an SD-JWT VC type
// (draft-ietf-oauth-sd-jwt-vc, "SD-JWT VC Type Metadata"): what a wallet
// shows for the type and its claims, and which claims are selectively
// disclosable. A node serves the metadata of the types it defines at
// GET /vct/{vct}.
type TypeMetadata struct {
	// VCT is the type the document describes: the vct of the credentials.
	VCT         string `json:"vct"`
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
	// Display is the type's name per locale (BCP 47 tags).
	Display []TypeDisplay `json:"display,omitempty"`
	// Claims describes each claim a credential of the type may carry.
	Claims []ClaimMetadata `json:"claims,omitempty"`
}

// TypeDisplay is a type's name and description for one locale.
type TypeDisplay struct {
	Locale      string `json:"locale"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

// ClaimMetadata describes one claim: its path in the credential (claim
// names here, the credentials being flat), its label per locale, and
// whether it is selectively disclosable: "always", "allowed" or "never".
type ClaimMetadata struct {
	Path      []string       `json:"path"`
	Display   []ClaimDisplay `json:"display,omitempty"`
	SD        string         `json:"sd,omitempty"`
	Mandatory bool           `json:"mandatory,omitempty"`
}

// ClaimDisplay is a claim's label for one locale.
type ClaimDisplay struct {
	Locale      string `json:"locale"`
	Label       string `json:"label"`
	Description string `json:"description,omitempty"`
}

// Selective disclosure of a claim (ClaimMetadata.SD).
const (
	SDAlways  = "always"
	SDAllowed = "allowed"
	SDNever   = "never"
)

// Check reports whether m is well formed: a vct, display entries with a
// locale and a name (each locale once), and claims with a non-empty path
// (each path once), labelled per locale, and an sd value of the three.
func (m *TypeMetadata) Check() error {
	var errs []error
	if m.VCT == "" {
		errs = append(errs, errors.New("no vct"))
	}
	var locales []string
	for _, d := range m.Display {
		if d.Locale == "" || d.Name == "" || slices.Contains(locales, d.Locale) {
			errs = append(errs, fmt.Errorf("display %+v: a locale (once) and a name are required", d))
		}
		locales = append(locales, d.Locale)
	}
	seen := map[string]bool{}
	for _, c := range m.Claims {
		key := fmt.Sprint(c.Path)
		if len(c.Path) == 0 || seen[key] {
			errs = append(errs, fmt.Errorf("claim %v: a path (once) is required", c.Path))
		}
		seen[key] = true
		if c.SD != "" && c.SD != SDAlways && c.SD != SDAllowed && c.SD != SDNever {
			errs = append(errs, fmt.Errorf("claim %v: sd %q", c.Path, c.SD))
		}
		for _, d := range c.Display {
			if d.Locale == "" || d.Label == "" {
				errs = append(errs, fmt.Errorf("claim %v: display %+v needs a locale and a label", c.Path, d))
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: type metadata of %q: %w", ErrInvalid, m.VCT, errors.Join(errs...))
	}
	return nil
}

// IdentityCredentialMetadata is the Type Metadata of the identity
// credential the node at base issues at enrollment (vct
// TypeVCT(base, IdentityCredential), see IdentityCredential): every
// subject claim, sub included, is selectively disclosable, as the issuer
// conceals them all.
func IdentityCredentialMetadata(base string) TypeMetadata {
	claim := func(name, zh, en string) ClaimMetadata {
		return ClaimMetadata{Path: []string{name}, SD: SDAlways, Display: []ClaimDisplay{{Locale: "zh-CN", Label: zh}, {Locale: "en", Label: en}}}
	}
	return TypeMetadata{
		VCT:         TypeVCT(base, TypeIdentityCredential),
		Name:        "TrustID identity credential",
		Description: "The holder's identity attributes, issued by a TrustID node at enrollment and bound to the holder's device key.",
		Display: []TypeDisplay{
			{Locale: "zh-CN", Name: "可信数字身份凭证", Description: "TrustID 节点在注册时签发、绑定持有人设备密钥的身份属性凭证"},
			{Locale: "en", Name: "TrustID identity credential", Description: "Identity attributes issued by a TrustID node at enrollment, bound to the holder's device key"},
		},
		Claims: []ClaimMetadata{
			claim("sub", "主体标识", "Subject identifier"),
			claim("name", "姓名", "Name"),
			claim("birthDate", "出生日期", "Date of birth"),
			claim("nationality", "国籍", "Nationality"),
			claim("age_over_18", "年满18周岁", "Aged 18 or over"),
			claim("age_over_60", "年满60周岁", "Aged 60 or over"),
			claim("assuranceLevel", "身份认证等级", "Assurance level"),
			claim("region", "签发地区", "Issuing region"),
		},
	}
}
