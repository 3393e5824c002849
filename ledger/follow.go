package ledger

import (
	"context"
	"fmt"
	"time"
)

// Follow feeds apply every event of l from block 0, in commit order and
// each exactly once, until ctx ends (then it returns ctx's error). When
// the ledger fails, or apply returns an error, it tells onErr (if set),
// waits retry (default 1 s) and resumes after the last event applied
// (events of one block come in the same order every time).
func Follow(ctx context.Context, l Ledger, retry time.Duration, apply func(Event) error, onErr func(error)) error {
	if retry <= 0 {
		retry = time.Second
	}
	var block uint64 // the block of the last event applied
	var done int     // events of that block applied
	started := false
	for {
		err := func() error {
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			events, err := l.Events(ctx, block)
			if err != nil {
				return err
			}
			seen := 0 // events of block seen in this stream
			for ev := range events {
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
				if !started || ev.Block != block {
					block, done, seen, started = ev.Block, 0, 1, true
				}
				done++
			}
			return fmt.Errorf("%w: event stream ended", ErrUnavailable)
		}()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if onErr != nil {
			onErr(err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(retry):
		}
	}
}
