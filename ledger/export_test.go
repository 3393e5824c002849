package ledger

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
