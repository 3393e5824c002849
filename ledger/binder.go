package ledger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/internal/retrylog"
)

// CredentialBinder is what a Binder needs from the chain; Client
// implements it over either backend.
type CredentialBinder interface {
	BindCredentialIDs(ctx context.Context, in chaincode.BindingsInput) (chaincode.BindingsResult, error)
}

// BinderOptions configures a Binder. Zero values are the defaults.
type BinderOptions struct {
	// MaxBatch is the most bindings in one transaction (default and
	// maximum chaincode.MaxBindings).
	MaxBatch int
	// Concurrency is the most transactions in flight (default 4).
	Concurrency int
	// MinBackoff and MaxBackoff bound the retry delay after a failed
	// transaction (defaults 50 ms, 1 s).
	MinBackoff, MaxBackoff time.Duration
	Logger                 *slog.Logger
}

// Binder takes bindings of credential IDs a request chose to the chain
// (chaincode BindCredentialIDs) in groups: concurrent Bind calls share a
// transaction, and each returns once its binding is committed. It keeps
// nothing on disk, unlike the Outbox: a binding is acknowledged only
// after its commit, so a crash before that loses nothing acknowledged
// (the caller answered an error, or nothing), and a binding that did
// commit is on the chain for good.
//
// A transaction is retried while the ledger fails and a waiting caller
// is left; a key another binding holds fails only its caller (the others
// are sent again without it). Safe for concurrent use.
type Binder struct {
	chain  CredentialBinder
	region string
	opts   BinderOptions

	mu    sync.Mutex
	queue []*bindReq
	kick  chan struct{}
	// retries logs the transactions' failures rarely (under mu).
	retries retrylog.Log
}

type bindReq struct {
	ctx  context.Context
	b    chaincode.CredentialBinding
	done chan error // buffered: one result
}

// ErrBindingUnconfirmed: the caller stopped waiting (its context ended)
// before its binding was committed. The binding may still commit.
var ErrBindingUnconfirmed = errors.New("ledger: the binding is not confirmed by the chain")

// NewBinder returns a binder of region's credential IDs; run it with Run.
func NewBinder(chain CredentialBinder, region string, opts BinderOptions) *Binder {
	if opts.MaxBatch <= 0 || opts.MaxBatch > chaincode.MaxBindings {
		opts.MaxBatch = chaincode.MaxBindings
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 4
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 50 * time.Millisecond
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(time.Second, opts.MinBackoff)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Binder{chain: chain, region: region, opts: opts, kick: make(chan struct{}, 1)}
}

// Bind sends b to the chain with the bindings of concurrent callers and
// returns nil once it is committed (or was already, with the same value).
// A key bound to another value gives an error matching
// chaincode.ErrBindingExists; ctx ending first gives
// ErrBindingUnconfirmed (the binding may still commit).
func (d *Binder) Bind(ctx context.Context, b chaincode.CredentialBinding) error {
	r := &bindReq{ctx: ctx, b: b, done: make(chan error, 1)}
	d.mu.Lock()
	d.queue = append(d.queue, r)
	d.mu.Unlock()
	select {
	case d.kick <- struct{}{}:
	default:
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrBindingUnconfirmed, ctx.Err())
	}
}

// Run sends what Bind queues until ctx ends.
func (d *Binder) Run(ctx context.Context) error {
	slots := make(chan struct{}, d.opts.Concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-d.kick:
		}
		for {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case slots <- struct{}{}:
			}
			batch := d.take()
			if len(batch) == 0 {
				<-slots
				break
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-slots }()
				d.send(ctx, batch)
			}()
		}
	}
}

// take removes up to MaxBatch waiting requests from the queue, at most
// one per key (a repeated key waits for the next transaction, where the
// chain decides).
func (d *Binder) take() []*bindReq {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out, rest []*bindReq
	seen := map[string]bool{}
	for _, r := range d.queue {
		switch {
		case r.ctx.Err() != nil:
			// the caller left; nothing is sent for it
		case len(out) < d.opts.MaxBatch && !seen[r.b.Key]:
			seen[r.b.Key] = true
			out = append(out, r)
		default:
			rest = append(rest, r)
		}
	}
	d.queue = rest
	if len(rest) > 0 {
		select {
		case d.kick <- struct{}{}:
		default:
		}
	}
	return out
}

// send submits batch until each request has its answer or has left.
func (d *Binder) send(ctx context.Context, batch []*bindReq) {
	backoff := d.opts.MinBackoff
	for len(batch) > 0 {
		in := chaincode.BindingsInput{Region: d.region, Bindings: make([]chaincode.CredentialBinding, len(batch))}
		for i, r := range batch {
			in.Bindings[i] = r.b
		}
		_, err := d.chain.BindCredentialIDs(ctx, in)
		switch taken := chaincode.TakenKeys(err); {
		case err == nil:
			d.mu.Lock()
			d.retries.Reset()
			d.mu.Unlock()
			for _, r := range batch {
				r.done <- nil
			}
			return
		case len(taken) > 0:
			n := len(batch)
			batch = slices.DeleteFunc(batch, func(r *bindReq) bool {
				if slices.Contains(taken, r.b.Key) {
					r.done <- err
					return true
				}
				return false
			})
			if len(batch) == n { // keys not of this batch: answer, do not loop
				for _, r := range batch {
					r.done <- err
				}
				return
			}
			continue
		case errors.Is(err, chaincode.ErrForbidden) || errors.Is(err, chaincode.ErrUnknownCaller):
			// The region itself is refused (not active, or not this
			// identity's): every binding of it would be, so each request
			// gets the refusal now, not a transaction of its own.
			for _, r := range batch {
				r.done <- err
			}
			return
		case errors.Is(err, chaincode.ErrInvalid) || errors.Is(err, chaincode.ErrArgumentsCount) ||
			errors.Is(err, chaincode.ErrUnknownFunc) || errors.Is(err, chaincode.ErrExists):
			// A refusal retrying cannot cure: a malformed binding (the
			// caller's bug). Sent one by one, so that only the bad ones
			// fail.
			if len(batch) == 1 {
				batch[0].done <- err
				return
			}
			for _, r := range batch {
				d.send(ctx, []*bindReq{r})
			}
			return
		}
		if ctx.Err() != nil {
			return
		}
		d.mu.Lock()
		d.retries.Warn(d.opts.Logger, "credential bindings not committed yet; retrying", err, slog.Int("bindings", len(batch)),
			slog.Duration("backoff", backoff))
		d.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, d.opts.MaxBackoff)
		batch = slices.DeleteFunc(batch, func(r *bindReq) bool { return r.ctx.Err() != nil })
	}
}
