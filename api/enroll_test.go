package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/credentials/statuslist"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/qrcode"
)

func testSubjects(t testing.TB, secret byte) *BindingSubjects {
	t.Helper()
	pw, err := identity.NewPairwiseDeriver(identity.VersionedKey{Version: 3, Secret: bytes.Repeat([]byte{secret}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewBindingSubjects(pw)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testSymbol(t testing.TB, number string) identity.Symbol {
	t.Helper()
	d, err := identity.NewDeriver(identity.VersionedKey{Version: 1, Secret: bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := identity.Parse(number)
	if err != nil {
		t.Fatal(err)
	}
	sym, err := d.Derive(doc)
	if err != nil {
		t.Fatal(err)
	}
	return sym
}

// TestIdentBytesRoundTrip: the byte form of an identifier converts back to
// the identity package's text form (which checks the check character).
func TestIdentBytesRoundTrip(t *testing.T) {
	for i := 0; i < 500; i++ {
		b := make([]byte, BindingSubjectSize)
		rand.Read(b[1:])
		b[0] = byte(1 + i%identity.MaxKeyVersion)
		text, err := identText(b)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := identity.ParsePairwiseID(text); err != nil {
			t.Fatalf("%x -> %s: %v", b, text, err)
		}
		back, err := identBytes(text)
		if err != nil || !bytes.Equal(back, b) {
			t.Fatalf("%x -> %s -> %x %v", b, text, back, err)
		}
	}
	for _, bad := range [][]byte{nil, make([]byte, BindingSubjectSize), append([]byte{32}, make([]byte, 20)...), make([]byte, 16)} {
		if _, err := identText(bad); err == nil {
			t.Errorf("identText(%x) accepted", bad)
		}
	}
}

// TestBindingSubjects: the subject is stable per person and not the
// symbol; relying parties' IDs are stable per sector, differ across
// sectors and people, and depend on the pairwise key.
func TestBindingSubjects(t *testing.T) {
	bs := testSubjects(t, 1)
	a := testSymbol(t, "11010519491231002X")
	b := testSymbol(t, "110105194912310038")
	sa, err := bs.Subject(a)
	if err != nil {
		t.Fatal(err)
	}
	sa2, _ := bs.Subject(a)
	sb, _ := bs.Subject(b)
	if !bytes.Equal(sa, sa2) || bytes.Equal(sa, sb) || len(sa) != BindingSubjectSize || sa[0] != 3 {
		t.Fatalf("subjects: %x %x %x", sa, sa2, sb)
	}
	if text, _ := identText(sa); strings.EqualFold(text, a.Text()) {
		t.Error("the subject is the symbol")
	}
	hotel, shop := identity.Sector{Kind: identity.SectorIdentifier, Name: "hotel.example"}, identity.Sector{Kind: identity.SectorIdentifier, Name: "shop.example"}
	// Relying parties see IDs derived through per-copy handles.
	ha, _ := bs.Handle(sa, rand.Reader)
	ha2, _ := bs.Handle(sa, rand.Reader)
	hb0, _ := bs.Handle(sb, rand.Reader)
	if len(ha) != BindingHandleSize || bytes.Equal(ha, ha2) || bytes.Contains(ha, sa[1:8]) || bytes.Contains(ha2, sa[1:8]) {
		t.Fatalf("handles: %x %x of %x", ha, ha2, sa)
	}
	if back, err := bs.Open(ha2); err != nil || !bytes.Equal(back, sa) {
		t.Fatalf("Open: %x %v, want %x", back, err, sa)
	}
	h1, _ := bs.Pairwise(ha, hotel)
	h2, _ := bs.Pairwise(ha2, hotel)
	s1, _ := bs.Pairwise(ha, shop)
	hb, _ := bs.Pairwise(hb0, hotel)
	if h1 != h2 || h1 == s1 || h1 == hb || len(h1) != identity.TextLen {
		t.Errorf("pairwise: %s %s %s %s", h1, h2, s1, hb)
	}
	other := testSubjects(t, 2)
	oa, _ := other.Subject(a)
	oh, _ := other.Handle(oa, rand.Reader)
	if o, _ := other.Pairwise(oh, hotel); o == h1 || o == "" {
		t.Errorf("another pairwise key gives ID %q (first key: %s)", o, h1)
	}
	if _, err := bs.Pairwise(ha, identity.Sector{Kind: identity.SectorInternal, Name: BindingSector}); err == nil {
		t.Error("the internal sector was accepted")
	}
	for _, bad := range [][]byte{make([]byte, 16), sa} {
		if _, err := bs.Pairwise(bad, hotel); err == nil {
			t.Errorf("a %d-byte subject was accepted", len(bad))
		}
	}
}

// clashingLists is a real FileStore whose list listing also names a
// second list with the same 32-bit number as the first.
type clashingLists struct{ *statuslist.FileStore }

func (c clashingLists) Lists() []string {
	l := c.FileStore.Lists()
	if len(l) == 0 {
		return l
	}
	return append(l, l[0][:8]+"ffffffff")
}

// TestListStatus: a QR status reference names a Token Status List entry
// (valid, revoked or suspended, seen at once) or, for older bindings, a
// revocation entry; clashes and other regions fail closed.
func TestListStatus(t *testing.T) {
	ctx := context.Background()
	st, err := statuslist.OpenFileStore(t.TempDir(), statuslist.FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ls := &ListStatus{Region: 310000, Lists: st}
	rev, idx, err := st.Allocate(ctx, vc.PurposeRevocation)
	if err != nil {
		t.Fatal(err)
	}
	sus, sidx, _ := st.Allocate(ctx, vc.PurposeSuspension)
	ref, err := ls.Ref(rev, idx)
	if err != nil {
		t.Fatal(err)
	}
	if s, err := ls.Status(ctx, ref); err != nil || s != qrcode.StatusValid {
		t.Fatalf("fresh entry: %v %v", s, err)
	}
	if err := st.Set(ctx, rev, idx, 1); err != nil {
		t.Fatal(err)
	}
	if s, err := ls.Status(ctx, ref); err != nil || s != qrcode.StatusRevoked {
		t.Fatalf("revoked entry: %v %v", s, err)
	}
	sref, err := ls.Ref(sus, sidx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ls.Status(ctx, sref); !errors.Is(err, qrcode.ErrStatusUnavailable) {
		t.Errorf("suspension list as revocation: %v", err)
	}
	tok, tidx, _ := st.Allocate(ctx, status.PurposeToken)
	tref, err := ls.Ref(tok, tidx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		value uint8
		want  qrcode.Status
	}{{status.TokenValid, qrcode.StatusValid}, {status.TokenSuspended, qrcode.StatusSuspended}, {status.TokenValid, qrcode.StatusValid}, {status.TokenInvalid, qrcode.StatusRevoked}} {
		if err := st.Set(ctx, tok, tidx, c.value); err != nil {
			t.Fatal(err)
		}
		if s, err := ls.Status(ctx, tref); err != nil || s != c.want {
			t.Errorf("token entry %d: %v %v, want %v", c.value, s, err, c.want)
		}
	}
	if _, err := ls.Status(ctx, qrcode.StatusRef{Region: 320000, List: ref.List, Index: ref.Index}); !errors.Is(err, qrcode.ErrStatusUnavailable) {
		t.Errorf("other region: %v", err)
	}
	if _, err := ls.Status(ctx, qrcode.StatusRef{Region: 310000, List: ref.List + 1, Index: 0}); !errors.Is(err, qrcode.ErrStatusUnavailable) {
		t.Errorf("unknown list: %v", err)
	}
	clash := &ListStatus{Region: 310000, Lists: clashingLists{st}}
	if _, err := clash.Status(ctx, ref); !errors.Is(err, qrcode.ErrStatusUnavailable) {
		t.Errorf("clashing list numbers: %v", err)
	}
	if _, err := clash.Ref(rev, idx); err == nil {
		t.Error("a reference was made to a clashing list number")
	}
	if _, err := ls.Ref("not-a-list", 1); err == nil {
		t.Error("bad list ID accepted")
	}
}

// FuzzEnrollRequest: the request decoder and document parsing never panic
// and never accept a body with unknown fields.
func FuzzEnrollRequest(f *testing.F) {
	for _, s := range []string{
		`{"document":{"number":"11010519491231002X"},"name":"张三"}`,
		`{"document":{"type":"resident_id","number":"11010519491231002X"},"name":"x","pin":"135790"}`,
		`{"document":{"mrz":["P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<","L898902C36UTO7408122F1204159ZE184226B<<<<<10"]},"name":"A"}`,
		`{"document":{"number":"1"},"device_key":{"kty":"EC","crv":"SM2","x":"","y":""},"device_proof":"a.b.c"}`,
		`{"a":1}`, `[]`, `{"name":"x","name":"y"}`,
	} {
		f.Add(s)
	}
	e := &enroller{cfg: EnrollConfig{Documents: &identity.Validator{}}}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest("POST", EnrollPath, strings.NewReader(body))
		req, err := decodeEnroll(r)
		if err != nil {
			return
		}
		if strings.Contains(body, `"extra_field"`) {
			t.Fatalf("unknown field accepted: %s", body)
		}
		if _, err := e.parseDocument(req.Document); err != nil {
			var ae *Error
			var ie *identityError
			if !errors.As(err, &ae) && !errors.As(err, &ie) {
				t.Fatalf("document error of no API kind: %v", err)
			}
		}
		if req.DeviceKey != nil {
			req.DeviceKey.PublicKey()
		}
	})
}

// FuzzIdentBytes: any text either fails or round-trips.
func FuzzIdentBytes(f *testing.F) {
	f.Add("1WCQCDVTPR5SN776D4SFAEKSE1BT62YYT3")
	f.Add("0000000000000000000000000000000000")
	f.Fuzz(func(t *testing.T, text string) {
		b, err := identBytes(text)
		if err != nil {
			return
		}
		back, err := identText(b)
		if err != nil {
			return // version 0 or over 31
		}
		if p, perr := identity.ParsePairwiseID(text); perr == nil && back != p.Text() {
			t.Fatalf("%s -> %x -> %s", text, b, back)
		}
	})
}
