package ledger

import (
	"context"
	"fmt"
	"time"
)

// Follow feeds apply every event of l from block 0, in commit order and
// each exactly once, until ctx ends (then it returns ctx's error). When
// the ledger fails, or apply returns an error, it tells report (if set),
// waits retry (default 1 s) and resumes after the last event applied
// (events of one block come in the same order every time). After a
// failure, report is told nil once Follow follows again: its new stream
// has applied an event, or stayed open for retry (a ledger that answers
// again with no new events); a stream that ends at once does not count.
func Follow(ctx context.Context, l Ledger, retry time.Duration, apply func(Event) error, report func(error)) error {
	if retry <= 0 {
		retry = time.Second
	}
	var block uint64 // the block of the last event applied
	var done int     // events of that block applied
	started := false
	failed := false // a failure was reported and no recovery since
	recovered := func() {
		if failed && report != nil {
			report(nil)
		}
		failed = false
	}
	for {
		err := func() error {
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			events, err := l.Events(ctx, block)
			if err != nil {
				return err
			}
			var open <-chan time.Time // fires once the stream stayed open for retry
			if failed {
				t := time.NewTimer(retry)
				defer t.Stop()
				open = t.C
			}
			seen := 0 // events of block seen in this stream
			for {
				var ev Event
				var ok bool
				select {
				case <-open:
					open = nil
					// A stream that ended or holds an event is read
					// first: only one still open and waiting counts.
					select {
					case ev, ok = <-events:
					default:
						recovered()
						continue
					}
				case ev, ok = <-events:
				}
				if !ok {
					return fmt.Errorf("%w: event stream ended", ErrUnavailable)
				}
				if started && ev.Block < block {
					continue
				}
				if started && ev.Block == block {
					seen++
					if seen <= done {
						continue
					}
				}
				if err := apply(ev); err != nil {
					return fmt.Errorf("event of block %d: %w", ev.Block, err)
				}
				recovered()
				if !started || ev.Block != block {
					block, done, seen, started = ev.Block, 0, 1, true
				}
				done++
			}
		}()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		failed = true
		if report != nil {
			report(err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(retry):
		}
	}
}
