package statuslist_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/trustid-cn/trustid/credentials/issuer"
	"github.com/trustid-cn/trustid/credentials/status"
)

// TestSharedOlderIndex: testdata/index-9087416.log is the
// data/status/index.log a node at commit 9087416 wrote (before status was
// shared: credential IDs of its own, urn:uuid:, indexed only there) for
// four credentials client rp-zwfw issued. The instance whose data
// directory holds it finds their entries and owner, so they can still be
// revoked, suspended and reinstated (they were 404 no such credential).
func TestSharedOlderIndex(t *testing.T) {
	in := olderInstance(t)
	ctx := context.Background()
	const id = "urn:uuid:20888952-4b62-48b9-b246-d0d8453f1683"
	refs, err := in.shared.Refs(ctx, id)
	want := []status.Ref{{ListID: "415b5bcc842e0453", Index: 130210, Purpose: "revocation"}, {ListID: "2c537d8710700602", Index: 26212, Purpose: "suspension"}}
	if err != nil || len(refs) != 2 || refs[0] != want[0] || refs[1] != want[1] {
		t.Errorf("Refs of an older credential: %v %v, want %v", refs, err, want)
	}
	if owned, err := in.shared.OwnedBy(ctx, id, issuer.OwnerTag("rp-zwfw")); err != nil || !owned {
		t.Errorf("OwnedBy its issuer: %v %v", owned, err)
	}
	if owned, err := in.shared.OwnedBy(ctx, id, issuer.OwnerTag("rp-other")); err != nil || owned {
		t.Errorf("OwnedBy another client: %v %v", owned, err)
	}
	const unknown = "urn:uuid:20888952-4b62-48b9-b246-d0d8453f1684"
	if _, err := in.shared.Refs(ctx, unknown); !errors.Is(err, status.ErrNotFound) {
		t.Errorf("Refs of an ID never issued: %v, want ErrNotFound", err)
	}
	if _, err := in.shared.OwnedBy(ctx, unknown, issuer.OwnerTag("rp-zwfw")); !errors.Is(err, status.ErrNotFound) {
		t.Errorf("OwnedBy of an ID never issued: %v, want ErrNotFound", err)
	}
}

// An ID a request chooses cannot be an older credential's: binding it
// on the chain would hide the older one (read finds the chain's binding
// first), so its issuer could no longer revoke it and the request's
// client would answer for its ID.
func TestSharedOlderIndexIDNotChosenAgain(t *testing.T) {
	in := olderInstance(t)
	ctx := context.Background()
	const id = "urn:uuid:20888952-4b62-48b9-b246-d0d8453f1683"
	lid, idx, err := in.shared.Allocate(ctx, status.PurposeRevocation)
	if err != nil {
		t.Fatal(err)
	}
	refs := []status.Ref{{ListID: lid, Index: idx, Purpose: status.PurposeRevocation}}
	if err := in.shared.BindOwner(ctx, id, issuer.OwnerTag("rp-other"), refs); !errors.Is(err, status.ErrBound) {
		t.Errorf("BindOwner of an older credential's ID: %v, want ErrBound", err)
	}
	if owned, err := in.shared.OwnedBy(ctx, id, issuer.OwnerTag("rp-zwfw")); err != nil || !owned {
		t.Errorf("OwnedBy its issuer after another client chose its ID: %v %v", owned, err)
	}
	if owned, err := in.shared.OwnedBy(ctx, id, issuer.OwnerTag("rp-other")); err != nil || owned {
		t.Errorf("OwnedBy the client that chose its ID: %v %v", owned, err)
	}
}

// olderInstance starts an instance on a data directory holding the
// index-9087416.log fixture as its status/index.log.
func olderInstance(t *testing.T) *instance {
	t.Helper()
	dir := t.TempDir()
	index, err := os.ReadFile(filepath.Join("testdata", "index-9087416.log"))
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "status"), 0o700)
	if err := os.WriteFile(filepath.Join(dir, "status", "index.log"), index, 0o600); err != nil {
		t.Fatal(err)
	}
	return startInstance(t, openLedger(t), dir, "i1")
}
