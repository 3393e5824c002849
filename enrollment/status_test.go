package enrollment

import (
	"context"
	"errors"
	"testing"

	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/credentials/statuslist"
	"github.com/trustid-cn/trustid/qrcode"
)

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
	// A list number the region has no list of will not appear: a
	// refusal of the code, not a failure to retry.
	if _, err := ls.Status(ctx, qrcode.StatusRef{Region: 310000, List: ref.List + 1, Index: 0}); !errors.Is(err, qrcode.ErrUnknownStatusList) || errors.Is(err, qrcode.ErrStatusUnavailable) {
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
