package embedded

// Reopens returns how many times l's file was reopened.
func Reopens(l *Ledger) int { return l.db.Reopens() }
