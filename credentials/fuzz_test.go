package credentials_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/chaincode"
	. "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/issuer"

	"github.com/trustid-cn/trustid/credentials/sdjwt"
	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/gm"
)

// sentinels are the package's errors: every refusal matches one.
var sentinels = []error{ErrMalformed, ErrInvalid, ErrInvalidPresentation, ErrAlgorithm, ErrType, ErrSignature,
	ErrUnknownKey, ErrIssuerMismatch, ErrExpired, ErrNotYetValid, ErrRevoked, ErrSuspended, ErrStatusUnavailable,
	ErrResolve, ErrUnsupported, ErrChallenge, ErrNotFound, ErrStatusFull,
	ErrRelatedMismatch, ErrRelatedUnavailable, ErrDigestMalformed}

func isSentinel(err error) bool {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// FuzzParseControllerDocument: any document never panics, whether read
// as a did:web DID document or as the https controlled identifier
// document a verification method URL names; a refusal matches ErrResolve
// and says why (ErrControllerDocument or ErrControllerDocumentID); an
// accepted one is the document of the identifier asked for, with absolute
// method ids, and encoding it and parsing it again gives the same
// document. Seeds: a real issuer's DID document, the shapes of the W3C
// Controlled Identifiers 1.0 examples, and variants.
func FuzzParseControllerDocument(f *testing.F) {
	n := newNode(f, testBase)
	did := n.issuer.DID()
	const cid = "https://controller.example/123"
	doc, err := n.issuer.DIDDocument()
	if err != nil {
		f.Fatal(err)
	}
	real, _ := json.Marshal(doc)
	f.Add(real)
	vm, _ := json.Marshal(doc.VerificationMethod[0])
	f.Add([]byte(`{"id":"` + did + `","assertionMethod":[` + string(vm) + `,"#k1"]}`))
	f.Add([]byte(`{"id":"` + did + `","authentication":[` + string(vm) + `,"#k1"],"assertionMethod":[` + string(vm) + `]}`))
	f.Add([]byte(`{"id":"` + did + `","authentication":"#k1"}`))
	f.Add([]byte(`{"id":"` + did + `","verificationMethod":[{"id":"#k","type":"JsonWebKey","controller":"` + did + `","publicKeyJwk":{"kty":"EC","crv":"SM2","x":"AA","y":"AA","d":"AA"}}]}`))
	f.Add([]byte(`{"id":"` + did + `","verificationMethod":[{"id":"#m","type":"Multikey","controller":"` + did + `","publicKeyMultibase":"zDnaerx9CtbPJ1q36T5Ln5wYt3MQYeGRG5ehnPAmxcf5mDZpv"}],"assertionMethod":["#m"]}`))
	f.Add([]byte(`{"id":"` + did + `","ID":"did:web:evil.example"}`))
	f.Add([]byte(`{"id":"did:web:other.example"}`))
	f.Add([]byte(`{"@context":"https://www.w3.org/ns/cid/v1","id":"` + cid + `","verificationMethod":[{"id":"` + cid + `#key-456","type":"Multikey","controller":"` + cid + `","publicKeyMultibase":"z6MkmM42vxfqZQsv4ehtTjFFxQ4sQKS2w6WR7emozFAn5cxu"}],"authentication":["` + cid + `#key-456"]}`))
	f.Add([]byte(`{"id":"` + cid + `","authentication":[{"id":"#authn-key-123","type":"Multikey","controller":"` + cid + `","expires":"2025-12-01T00:00:00Z","publicKeyMultibase":"z6MkmM42vxfqZQsv4ehtTjFFxQ4sQKS2w6WR7emozFAn5cxu"}]}`))
	f.Add([]byte(`{"id":"` + cid + `","verificationMethod":[{"id":"#k","type":"JsonWebKey","controller":"` + cid + `","revoked":"2024-12-10T15:28:32Z","publicKeyJwk":{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}}],"assertionMethod":["#k"]}`))
	f.Add([]byte(`{"id":"` + cid + `","verificationMethod":[{"id":7,"type":["Multikey"],"revoked":"yesterday"}]}`))
	// expires and revoked that RFC 3339 takes and a dateTimeStamp does
	// not (a comma before the fraction, an offset past 14:00), and ones
	// it does.
	for _, t := range []string{"2025-12-01T00:00:00,5Z", "2025-12-01T00:00:00+23:00", "2025-12-01T00:00:00.125-14:00", "2025-12-01T00:00:00.5+05:30"} {
		f.Add([]byte(`{"id":"` + cid + `","verificationMethod":[{"id":"#k","type":"Multikey","controller":"` + cid + `","expires":"` + t +
			`","publicKeyMultibase":"z6MkmM42vxfqZQsv4ehtTjFFxQ4sQKS2w6WR7emozFAn5cxu"}],"authentication":[{"id":"#a","type":"Multikey","controller":"` + cid +
			`","revoked":"` + t + `","publicKeyMultibase":"z6MkmM42vxfqZQsv4ehtTjFFxQ4sQKS2w6WR7emozFAn5cxu"}]}`))
	}
	f.Add([]byte(`{"id":"` + cid + `","capabilityInvocation":["https://external.example/xyz#key-789"]}`))
	f.Add([]byte(`[{"id":"` + cid + `"}]`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, id := range []string{did, cid} {
			d, err := ParseControllerDocument(data, id)
			if err != nil {
				if !errors.Is(err, ErrResolve) || !(errors.Is(err, ErrControllerDocument) || errors.Is(err, ErrControllerDocumentID)) {
					t.Fatalf("refusal without its reason: %v", err)
				}
				continue
			}
			if d.ID != id {
				t.Fatalf("document of %q accepted for %q", d.ID, id)
			}
			for _, vm := range d.VerificationMethod {
				if strings.HasPrefix(vm.ID, "#") {
					t.Fatalf("relative method id %q kept", vm.ID)
				}
				for _, ts := range []string{vm.Expires, vm.Revoked} {
					if ts != "" && !dateTimeStamp.MatchString(ts) {
						t.Fatalf("method %q: expires or revoked %q is not a dateTimeStamp", vm.ID, ts)
					}
				}
			}
			out, err := json.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			again, err := ParseControllerDocument(out, id)
			if err != nil {
				t.Fatalf("re-encoded document refused: %v\n%s", err, out)
			}
			if !reflect.DeepEqual(d, again) {
				t.Fatalf("not stable:\n%+v\n%+v", d, again)
			}
		}
	})
}

// dateTimeStamp is the lexical space of xsd:dateTimeStamp (XML Schema 1.1
// Part 2 §3.4.28) with a four-digit year, as the controller document's
// expires and revoked must be (Controlled Identifiers 1.0 §2.2); day 31
// of a shorter month is left to time.Parse.
var dateTimeStamp = regexp.MustCompile(`^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]+)?(Z|[+-]((0[0-9]|1[0-3]):[0-5][0-9]|14:00))$`)

// FuzzParseIssuerMetadata: any metadata document never panics; a refusal
// matches ErrResolve; an accepted one names the issuer asked for, holds
// only valid public keys with distinct kids, and encodes and parses back
// to the same key set. Seeds: a real issuer's metadata and variants.
func FuzzParseIssuerMetadata(f *testing.F) {
	n := newNode(f, testBase)
	md, err := n.issuer.Metadata()
	if err != nil {
		f.Fatal(err)
	}
	real, _ := json.Marshal(md)
	f.Add(real)
	f.Add(bytes.Replace(real, []byte(`"kty"`), []byte(`"d":"AA","kty"`), 1))
	f.Add(bytes.Replace(real, []byte(`"issuer"`), []byte(`"ISSUER":"https://evil.example","issuer"`), 1))
	f.Add([]byte(`{"issuer":"` + testBase + `","jwks_uri":"` + testBase + `/jwks"}`))
	f.Add([]byte(`{"issuer":"` + testBase + `","jwks":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := ParseIssuerMetadata(data, testBase)
		if err != nil {
			if !errors.Is(err, ErrResolve) {
				t.Fatalf("refusal without ErrResolve: %v", err)
			}
			return
		}
		kids := map[string]bool{}
		for _, k := range set.Keys {
			if _, err := k.PublicKey(); err != nil || k.Kid == "" || kids[k.Kid] {
				t.Fatalf("accepted key %+v: %v", k, err)
			}
			kids[k.Kid] = true
		}
		out, _ := json.Marshal(IssuerMetadata{Issuer: testBase, JWKS: &set})
		again, err := ParseIssuerMetadata(out, testBase)
		if err != nil {
			t.Fatalf("re-encoded metadata refused: %v\n%s", err, out)
		}
		if a, b := mustJSON(t, set), mustJSON(t, again); a != b {
			t.Fatalf("not stable:\n%s\n%s", a, b)
		}
	})
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// FuzzVerifyCredentialToken: vc+jwt and SD-JWT VC tokens (issued,
// presented with a key binding, tampered, truncated) go into the
// verifier end to end: keys, signature, data model, validity, status.
// Nothing panics; every refusal matches a package sentinel; what verifies
// was issued by this node: its issuer, and for a vc+jwt exactly the
// credential issued.
func FuzzVerifyCredentialToken(f *testing.F) {
	n := newNode(f, testBase)
	ctx := context.Background()
	vcTok := mustIssue(f, n, sampleCredential(), issuer.IssueOptions{Format: issuer.FormatVCJWT})
	holder, _ := holderKey(f, gm.AlgES256)
	hj, _ := gm.NewJWK(holder.Public(), "")
	sdTok := mustIssue(f, n, identityRequest(f, n), issuer.IssueOptions{Format: issuer.FormatSDJWT, HolderKey: &hj})
	sd, err := sdjwt.Split(sdTok.Token)
	if err != nil {
		f.Fatal(err)
	}
	kb := &sdjwt.KeyBinding{Signer: holder, Audience: "https://rp.example", Nonce: "n-1", IssuedAt: n.clock.Now()}
	pres, err := sd.Present(func(d *sdjwt.Disclosure) bool { return d.Name == "age_over_18" }, kb)
	if err != nil {
		f.Fatal(err)
	}
	good, err := n.verifier.VerifyToken(ctx, vcTok.Token)
	if err != nil {
		f.Fatal(err)
	}
	issuers := map[string]bool{good.Issuer: true}
	if r, err := n.verifier.VerifyToken(ctx, sdTok.Token); err != nil {
		f.Fatal(err)
	} else {
		issuers[r.Issuer] = true
	}
	for _, s := range []string{vcTok.Token, sdTok.Token, pres, vcTok.Token[:len(vcTok.Token)/2], sdTok.Token[:strings.LastIndex(sdTok.Token[:len(sdTok.Token)-1], "~")+1],
		strings.Replace(vcTok.Token, ".", "..", 1), "eyJhbGciOiJub25lIn0.e30.", "a~b~", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		r, err := n.verifier.VerifyToken(ctx, tok)
		if err != nil {
			if !isSentinel(err) {
				t.Fatalf("refusal without a sentinel: %v", err)
			}
		} else {
			if !issuers[r.Issuer] {
				t.Fatalf("verified a credential of %q", r.Issuer)
			}
			if r.Format == TypVCJWT && !reflect.DeepEqual(r.Credential, good.Credential) {
				t.Fatalf("verified another credential: %v", r.Credential)
			}
		}
		if !strings.Contains(tok, "~") {
			return
		}
		res, err := n.verifier.VerifySDJWT(ctx, tok, SDJWTOptions{RequireKeyBinding: true, Audience: kb.Audience, Nonce: kb.Nonce})
		if err != nil {
			if !isSentinel(err) {
				t.Fatalf("SD-JWT refusal without a sentinel: %v", err)
			}
			return
		}
		if iss, _ := res.Claims["iss"].(string); !issuers[iss] || res.Claims["cnf"] == nil {
			t.Fatalf("verified presentation of %q without cnf: %v", iss, res.Claims)
		}
	})
}

// FuzzRelatedDigests feeds the digestSRI and digestMultibase parsers
// arbitrary strings: they never panic, every refusal is
// ErrDigestMalformed or ErrDigestUnsupported, and what they accept is a
// digest of its algorithm's size that Match checks without error or
// with ErrRelatedMismatch.
func FuzzRelatedDigests(f *testing.F) {
	for _, s := range []string{examplesSRI384, examplesSRI384AsSpec, examplesSRI256 + " " + examplesSRI512 + "?x=y",
		"md5-AAAA sha1-AAAA", "sha384-", "sha512-" + strings.Repeat("=", 3), " \t\n"} {
		f.Add(s, examplesMB256, []byte("abc"))
	}
	for _, m := range []string{examplesMB256Z, examplesMB384, examplesMB512Z, examplesMB3384, abcSM3U, abcSM3Z,
		"u1QEQAAAAAAAAAAAAAAAAAAAAAA", "ukgA", "uAAA", "z", "u", "m", "z0OIl", "z1111111111"} {
		f.Add(examplesSRI384, m, []byte{})
	}
	f.Fuzz(func(t *testing.T, sri, mb string, data []byte) {
		refused := func(err error) bool {
			return errors.Is(err, ErrDigestMalformed) || errors.Is(err, ErrDigestUnsupported)
		}
		ds, err := ParseSRI(sri)
		if err != nil && !refused(err) {
			t.Fatalf("ParseSRI: %v", err)
		}
		for _, d := range ds {
			if len(d.Value) != d.Alg.Size || d.Alg != ds[0].Alg {
				t.Fatalf("ParseSRI gave %d bytes of %s", len(d.Value), d.Alg.Name)
			}
		}
		d, err := ParseMultibaseDigest(mb)
		if err != nil && !refused(err) {
			t.Fatalf("ParseMultibaseDigest: %v", err)
		}
		if err == nil && len(d.Value) != d.Alg.Size {
			t.Fatalf("ParseMultibaseDigest gave %d bytes of %s", len(d.Value), d.Alg.Name)
		}
		rd, err := ParseRelatedDigests(sri, []string{mb})
		if err != nil {
			if !refused(err) {
				t.Fatalf("ParseRelatedDigests: %v", err)
			}
			return
		}
		if err := rd.Match(data); err != nil && !errors.Is(err, ErrRelatedMismatch) {
			t.Fatalf("Match: %v", err)
		}
	})
}

// FuzzSpaceOrControl: SpaceOrControl, eight bytes a step, finds what the
// byte-by-byte loop it replaced in URLString finds.
func FuzzSpaceOrControl(f *testing.F) {
	for _, s := range []string{"", "did:web:a.example", "abcdefgh ijklmnop", "abcdefghijklmno\x7f", "\x00", "abcdefg\x20", "é\x80\xff\xa0abcdefgh", "!!!!!!!!\x1f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := false
		for i := 0; i < len(s); i++ {
			if c := s[i]; c <= ' ' || c == 0x7f {
				want = true
			}
		}
		if got := SpaceOrControl(s); got != want {
			t.Fatalf("SpaceOrControl(%q) = %v, want %v", s, got, want)
		}
	})
}

// FuzzURLString: an http(s) URL that URLString takes without url.Parse
// (PlainHTTPURL) is one url.Parse takes with a host; and URLString takes
// exactly what it took when it called url.Parse for every http(s) URL.
func FuzzURLString(f *testing.F) {
	for _, s := range []string{"https://node.example:8443/status/90f5760a85640984#84053", "HTTP://a", "https://a:", "https://a:80:90/x",
		"https://user@host/", "https://[::1]/", "https://h/%zz", "https://h/%41", "https://h?x#y#z", "https:///x", "https:x", "http://a.b-c/?", "https://h#%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, err := URLString(s)
		colon := strings.IndexByte(s, ':')
		if colon < 0 {
			return
		}
		scheme := strings.ToLower(s[:colon])
		if scheme != "http" && scheme != "https" {
			return
		}
		u, perr := url.Parse(s)
		parsed := perr == nil && u.Host != ""
		if PlainHTTPURL(s[colon+1:]) && !strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) && !parsed {
			t.Fatalf("PlainHTTPURL(%q), but url.Parse: %v", s, perr)
		}
		if err == nil && !parsed {
			t.Fatalf("URLString took %q, url.Parse: %v", s, perr)
		}
		if err != nil && parsed && len(s) <= 8192 && !strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			t.Fatalf("URLString refused %q (%v), which url.Parse takes with a host", s, err)
		}
	})
}

// FuzzIsEnrollmentType: IsEnrollmentType, which compares a plain type
// name as it is, answers as chaincode.IsEnrollmentType does.
func FuzzIsEnrollmentType(f *testing.F) {
	for _, s := range []string{"IdentityCredential", "DeviceBindingCredential", "VerifiableCredential", "identitycredential", "Identity%43redential",
		"https://a.example/vct/IdentityCredential/?x", "urn:x:IdentityCredential", "IdentityCredential#", "./IdentityCredential", "IdentityCredential/", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := IsEnrollmentType(s), chaincode.IsEnrollmentType(s); got != want {
			t.Fatalf("IsEnrollmentType(%q) = %v, chaincode: %v", s, got, want)
		}
	})
}

// FuzzParseStatusListCredential: a status list credential is read as the
// code before Bitstring Status List v1.0 §2.2's arrays (kept below as the
// oracle) read it, except that statusPurpose and the subject's type may
// now be arrays and the credential must be typed
// BitstringStatusListCredential: what both accept gives the same list,
// purpose and ttl; an accepted list has one or more non-empty purposes
// and ends its validity no later than validUntil; refusals are sentinels.
func FuzzParseStatusListCredential(f *testing.F) {
	bits, err := status.NewBitstring(status.MinEntries)
	if err != nil {
		f.Fatal(err)
	}
	enc := bits.Encode()
	for _, subject := range []string{
		`"type":"BitstringStatusList","statusPurpose":"revocation"`,
		`"type":["BitstringStatusList"],"statusPurpose":["revocation","suspension"],"ttl":300000`,
		`"type":"BitstringStatusList","statusPurpose":[]`,
		`"type":["BitstringStatusList","X"],"statusPurpose":"message"`,
	} {
		for _, extra := range []string{``, `,"validUntil":"2030-01-01T00:00:00Z"`, `,"exp":1893456000`} {
			for _, typ := range []string{`["VerifiableCredential","BitstringStatusListCredential"]`, `"VerifiableCredential"`} {
				f.Add([]byte(fmt.Sprintf(`{"@context":["https://www.w3.org/ns/credentials/v2"],"id":"https://x.example/status/1","type":%s,"issuer":"did:example:1"%s,"credentialSubject":{"id":"https://x.example/status/1#list",%s,"encodedList":%q}}`,
					typ, extra, subject, enc)))
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseCredential(data)
		if err != nil {
			return
		}
		const url = "https://x.example/status/1"
		bl, err := ParseStatusListCredential(c, url, c.Issuer)
		oldBits, oldPurpose, oldTTL, oldErr := oldParseStatusListCredential(c, url, c.Issuer)
		if err != nil {
			if !isSentinel(err) && !errors.Is(err, status.ErrEncoding) {
				t.Fatalf("refusal %v is no sentinel", err)
			}
			if oldErr == nil && oldPurpose != "" && slices.Contains(c.Types, TypeBitstringStatusListCredential) {
				t.Fatalf("refused a list the old code took: %v", err)
			}
			return
		}
		if !slices.Contains(c.Types, TypeBitstringStatusListCredential) {
			t.Fatal("took a credential not typed BitstringStatusListCredential")
		}
		if len(bl.Purposes) == 0 || slices.Contains(bl.Purposes, "") {
			t.Fatalf("purposes %q", bl.Purposes)
		}
		if !c.ValidUntil.IsZero() && (bl.ValidUntil.IsZero() || bl.ValidUntil.After(c.ValidUntil)) {
			t.Fatalf("validity ends %v, past validUntil %v", bl.ValidUntil, c.ValidUntil)
		}
		s := c.Subjects[0]
		_, purposeString := s["statusPurpose"].(string)
		_, typeString := s["type"].(string)
		if !purposeString || !typeString {
			return // arrays: the old code refused them
		}
		if oldErr != nil || !slices.Equal(bl.Purposes, []string{oldPurpose}) || bl.TTL != oldTTL || bl.Bits.Encode() != oldBits.Encode() {
			t.Fatalf("old code: %v %q %v, new: %q %v", oldErr, oldPurpose, oldTTL, bl.Purposes, bl.TTL)
		}
	})
}

// oldParseStatusListCredential is parseStatusListCredential before
// statusPurpose and the subject's type could be arrays (the oracle of
// FuzzParseStatusListCredential).
func oldParseStatusListCredential(c *Credential, url, issuer string) (*status.Bitstring, string, time.Duration, error) {
	if c.Issuer != issuer {
		return nil, "", 0, fmt.Errorf("%w: status list issued by another issuer", ErrIssuerMismatch)
	}
	if c.ID != "" && c.ID != url {
		return nil, "", 0, fmt.Errorf("%w: status list credential id does not match its URL", ErrInvalid)
	}
	if len(c.Subjects) != 1 {
		return nil, "", 0, fmt.Errorf("%w: status list credential needs one subject", ErrInvalid)
	}
	s := c.Subjects[0]
	if t, _ := s["type"].(string); t != TypeBitstringStatusList {
		return nil, "", 0, fmt.Errorf("%w: subject type must be %s", ErrInvalid, TypeBitstringStatusList)
	}
	purpose, _ := s["statusPurpose"].(string)
	enc, _ := s["encodedList"].(string)
	bits, err := status.DecodeBitstring(enc, status.MaxRemoteEntries)
	if err != nil {
		return nil, "", 0, err
	}
	var ttl time.Duration
	if n, ok := s["ttl"].(json.Number); ok {
		if ms, err := n.Int64(); err == nil && ms > 0 {
			// Capped as the code now caps it: a ttl over what a Duration
			// holds wrapped negative ("do not cache"; TestStatusListLongTTL).
			ttl = time.Duration(min(ms, int64(math.MaxInt64/time.Millisecond))) * time.Millisecond
		}
	}
	return bits, purpose, ttl, nil
}
