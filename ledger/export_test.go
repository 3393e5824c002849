package ledger

import (
	"context"
	"fmt"
)

// SetReopenAfter makes the outbox and binding index files opened from
// now on reopen every n page allocations; restore undoes it.
func SetReopenAfter(n int) (restore func()) {
	old := reopenAfter
	reopenAfter = n
	return func() { reopenAfter = old }
}

// OutboxReopens and BindingReopens return how many times a file was
// reopened.
func OutboxReopens(o *Outbox) int        { return o.db.Reopens() }
func BindingReopens(x *BindingIndex) int { return x.db.Reopens() }

// LoadView loads v from its ledger, as Run does first; ApplyEvent
// applies ev to v as Run does an event it follows.
func LoadView(ctx context.Context, v *View) error { return v.load(ctx) }
func ApplyEvent(ctx context.Context, v *View, ev Event) error {
	return v.apply(ctx, ev, false)
}

// ViewState prints everything v holds, maps in key order.
func ViewState(v *View) string {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return fmt.Sprint(v.regions, v.issuers, v.rps, v.terminals, v.heads, v.statuses, v.applied)
}

// SetAfterSegmentsListed runs f where VerifyAuditLog has listed the
// sealed segments, on every pass; restore undoes it.
func SetAfterSegmentsListed(f func()) (restore func()) {
	afterSegmentsListed = f
	return func() { afterSegmentsListed = nil }
}
