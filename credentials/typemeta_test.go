package credentials

import (
	"errors"
	"testing"
	"time"
)

const nodeBase = "https://node.example"

// TestIdentityCredentialMetadata: the identity credential's Type Metadata
// is well formed and describes every subject claim IdentityCredential
// makes (id becoming sub in an SD-JWT VC), each always disclosable and
// labelled in zh-CN and en.
func TestIdentityCredentialMetadata(t *testing.T) {
	m := IdentityCredentialMetadata(nodeBase)
	if err := m.Check(); err != nil {
		t.Fatal(err)
	}
	if m.VCT != nodeBase+"/vct/IdentityCredential" {
		t.Errorf("vct %q", m.VCT)
	}
	described := map[string]ClaimMetadata{}
	for _, c := range m.Claims {
		described[c.Path[0]] = c
	}
	cred, err := IdentityCredential(IdentityClaims{Subject: "urn:example:subject-1", AssuranceLevel: 2, Region: "310000",
		Name: "张三", BirthDate: "1990-03-07", Nationality: "CHN"}, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	for name := range cred["credentialSubject"].(map[string]any) {
		if name == "id" {
			name = "sub"
		}
		c, ok := described[name]
		if !ok || c.SD != SDAlways || len(c.Display) != 2 || c.Display[0].Locale != "zh-CN" || c.Display[1].Locale != "en" {
			t.Errorf("claim %s: %+v", name, c)
		}
	}
}

// TestTypeMetadataCheck refuses malformed documents.
func TestTypeMetadataCheck(t *testing.T) {
	for name, edit := range map[string]func(*TypeMetadata){
		"no vct":            func(m *TypeMetadata) { m.VCT = "" },
		"display no locale": func(m *TypeMetadata) { m.Display[0].Locale = "" },
		"locale twice":      func(m *TypeMetadata) { m.Display[1].Locale = m.Display[0].Locale },
		"empty path":        func(m *TypeMetadata) { m.Claims[0].Path = nil },
		"path twice":        func(m *TypeMetadata) { m.Claims[1].Path = m.Claims[0].Path },
		"bad sd":            func(m *TypeMetadata) { m.Claims[0].SD = "sometimes" },
		"claim no label":    func(m *TypeMetadata) { m.Claims[0].Display[0].Label = "" },
	} {
		m := IdentityCredentialMetadata(nodeBase)
		edit(&m)
		if err := m.Check(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestVCTType maps a node's type URLs back to type names, and nothing else.
func TestVCTType(t *testing.T) {
	const base = nodeBase
	if got := TypeVCT(base+"/", "ResidenceCredential"); got != base+"/vct/ResidenceCredential" {
		t.Errorf("TypeVCT: %q", got)
	}
	if name, ok := VCTType(base, base+"/vct/ResidenceCredential"); !ok || name != "ResidenceCredential" {
		t.Errorf("VCTType: %q %v", name, ok)
	}
	for _, vct := range []string{
		"ResidenceCredential",
		"https://other.example/vct/ResidenceCredential",
		base + "/vct/",
		base + "/vct/residence",
		base + "/vct/Residence/Credential",
		base + "/vct/ResidenceCredential?x=1",
		base + "/vctResidenceCredential",
		"https://node.example.evil/vct/ResidenceCredential",
	} {
		if name, ok := VCTType(base, vct); ok {
			t.Errorf("VCTType(%q) = %q", vct, name)
		}
	}
	if _, ok := VCTType("", "/vct/ResidenceCredential"); ok {
		t.Error("no base: mapped")
	}
}
