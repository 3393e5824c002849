package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/trustid-cn/trustid/api"
	"github.com/trustid-cn/trustid/chaincode"
	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/enrollment"
	"github.com/trustid-cn/trustid/federation"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/internal/retrylog"
	"github.com/trustid-cn/trustid/ledger"
	"github.com/trustid-cn/trustid/ledger/embedded"
	"github.com/trustid-cn/trustid/ledger/fabric"
	"github.com/trustid-cn/trustid/ledger/registry"
)

// Files of the ledger in the data directory.
const (
	ledgerFile = "ledger.db"
	outboxFile = "outbox.db"
	// bindingsFile is the instance's index of its region's bindings of
	// credential IDs a request chose (ledger.BindingIndex).
	bindingsFile = "bindings.db"
	auditFile    = "audit.log"
)

// addLedgerFlags adds the ledger settings to `trustid serve`: the
// connection (addLedgerConnFlags) and the node's anchoring
// (addLedgerNodeFlags). With no Fabric setting the node runs the embedded
// ledger in its data directory.
func addLedgerFlags(f *pflag.FlagSet) {
	addLedgerConnFlags(f)
	addLedgerNodeFlags(f)
}

// addLedgerConnFlags adds the settings that select and reach the ledger,
// for serve and the commands that read or write the ledger (ledger,
// clients, terminals).
func addLedgerConnFlags(f *pflag.FlagSet) {
	addCheckedFlag(f, "ledger", "auto", "ledger backend: embedded, fabric, or auto (fabric when a Fabric profile or peer is set)", func(s string) error {
		if s != "embedded" && s != "fabric" && s != "auto" {
			return errors.New("want embedded, fabric or auto")
		}
		return nil
	})
	f.String("ledger-file", "", "embedded ledger file (default DATA/ledger.db); nodes of several regions in one process may share one")
	f.String("fabric-profile", "", "Fabric common connection profile (YAML/JSON): MSP ID, certificate, key, peer, TLS CA")
	f.String("fabric-msp-id", "", "Fabric MSP ID (overrides the profile), e.g. Region310000MSP")
	f.String("fabric-cert", "", "PEM file of the Fabric client certificate (overrides the profile)")
	f.String("fabric-key", "", "PEM file of the Fabric client private key (overrides the profile)")
	f.String("fabric-peer", "", "host:port of the Fabric peer gateway (overrides the profile)")
	f.String("fabric-tls-ca", "", "PEM file of the peer's TLS CA (overrides the profile)")
	f.String("fabric-server-name", "", "TLS server name of the peer (overrides the profile)")
	f.String("fabric-channel", "", "Fabric channel (default: the profile's, else trustid)")
	f.String("fabric-chaincode", "trustid", "chaincode name on the channel")
}

// addLedgerNodeFlags adds the settings of a running node's outbox, audit
// anchors and readiness (serve only).
func addLedgerNodeFlags(f *pflag.FlagSet) {
	addIntFlag(f, "anchor-max-batch", 4000, 1, chaincode.MaxBatchChanges, fmt.Sprintf("1 to %d", chaincode.MaxBatchChanges), "most status changes in one ledger transaction")
	addDurationFlag(f, "anchor-window", 200*time.Millisecond, time.Millisecond, forever, "at least 1ms", "how long a status change waits for more before a smaller batch is sent")
	addCheckedFlag(f, "node-id", "", "ID the audit log is anchored under on the ledger (default: the ID of the data directory's outbox; a new audit log records it, an existing one must match)", func(s string) error {
		if s != "" && !ledger.ValidAuditNode(s) {
			return errors.New("want letters, digits and ._:/-, beginning with a letter or digit (at most 128)")
		}
		return nil
	})
	addDurationFlag(f, "audit-anchor-interval", 30*time.Second, time.Second, forever, "at least 1s", "how often the audit log's head is anchored on the ledger")
	addIntFlag(f, "audit-segment-size", defaultAuditSegmentSize, 1, math.MaxInt, "a positive number of bytes", "size in bytes past which audit.log, once its head is anchored, is sealed as audit.log.FIRST-LAST and a new audit.log begun")
	addDurationFlag(f, "audit-retention", 0, 0, forever, "0 or a positive duration", "delete sealed audit-log segments whose last entry is older than this, once the ledger's anchor is past them (0: keep every segment; China's Cybersecurity Law, Art. 21, asks network logs be kept at least six months: 4392h)")
	addDurationFlag(f, "ledger-stall-limit", time.Minute, 1, forever, "a positive duration", "/readyz answers 503 when the outbox's oldest status change (or head) has waited longer, or the ledger view has failed and not refreshed for longer")
}

// defaultAuditSegmentSize is --audit-segment-size's default: 64 MiB,
// some 100,000 enrollments (an enrollment entry is 600 to 700 bytes).
const defaultAuditSegmentSize = 64 << 20

// sixMonths is the shortest --audit-retention China's Cybersecurity Law
// (Art. 21) allows network logs: 183 days.
const sixMonths = 183 * 24 * time.Hour

// nodeLedger is the ledger a node runs with, for the features mounted
// after mountLedger (n.ledger, or ledgerOf).
type nodeLedger struct {
	Ledger ledger.Ledger
	Client ledger.Client
	// Outbox is the Anchorer of status changes and heads.
	Outbox *ledger.Outbox
	// View is the local registry and status heads (a ledger.StatusHeads).
	View *ledger.View
	// Audit is the node's hash-chained audit log (audit.log), anchored
	// on the ledger every --audit-anchor-interval and at shutdown.
	Audit *ledger.AuditLog
	Mode  string // "embedded" or "fabric"
	// Clients and Terminals are the node region's registries on the
	// ledger, read from View: the relying parties it authenticates and
	// administers, the terminals it trusts. AllClients is every region's
	// relying parties, for QR redemption, where another region's party
	// comes through federation.
	Clients, AllClients *registry.Clients
	Terminals           *registry.Terminals

	hooksMu       sync.Mutex
	registryHooks []func()
	settleHooks   []func(context.Context) error
}

// onSettle has the node, as it stops, call f once the outbox has sent
// what it holds, and send again what f gave it (flushOutbox). f is
// called once, with a context that ends at the flush's deadline (ended
// already when the outbox could not send).
func (nl *nodeLedger) onSettle(f func(context.Context) error) {
	nl.hooksMu.Lock()
	defer nl.hooksMu.Unlock()
	nl.settleHooks = append(nl.settleHooks, f)
}

// onRegistry calls f after the view applies each registry event (a
// relying party or terminal changed on any instance).
func (nl *nodeLedger) onRegistry(f func()) {
	nl.hooksMu.Lock()
	defer nl.hooksMu.Unlock()
	nl.registryHooks = append(nl.registryHooks, f)
}

// viewEvent runs the hooks of a view event.
func (nl *nodeLedger) viewEvent(n *node, ev ledger.Event) {
	logOwnHeads(n)(ev)
	if ev.Name != chaincode.EventRegistry {
		return
	}
	nl.hooksMu.Lock()
	hooks := slices.Clone(nl.registryHooks)
	nl.hooksMu.Unlock()
	for _, f := range hooks {
		f()
	}
}

// viewLedger is the ledger a node's view reads: the node's own; a test
// slows it to start a node whose view loads late.
var viewLedger = func(l ledger.Ledger) ledger.Ledger { return l }

// ledgerOf returns the ledger mountLedger opened for n.
func ledgerOf(n *node) (*nodeLedger, bool) {
	return n.ledger, n.ledger != nil
}

// ledgerMode is the backend the flags select: embedded or fabric (auto
// is fabric when a Fabric profile or peer is set).
func ledgerMode(f *pflag.FlagSet) string {
	mode, _ := f.GetString("ledger")
	profile, _ := f.GetString("fabric-profile")
	peer, _ := f.GetString("fabric-peer")
	if mode == "auto" {
		mode = "embedded"
		if profile != "" || peer != "" {
			mode = "fabric"
		}
	}
	return mode
}

// openLedger opens the backend the flags select, acting as region; log
// (nil: the default logger) gets Fabric's event stream breaks.
func openLedger(cmd *cobra.Command, log *slog.Logger, dataDir, region string) (ledger.Ledger, string, error) {
	f := cmd.Flags()
	switch mode := ledgerMode(f); mode {
	case "embedded":
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, "", fmt.Errorf("data directory: %w", err)
		}
		path := embeddedPath(f, dataDir)
		if path == filepath.Join(dataDir, ledgerFile) {
			// The region's ledger itself: a new one would hold nothing.
			if err := missingFromServed(dataDir, path, "the whole copy"); err != nil {
				return nil, "", err
			}
		}
		l, err := embedded.OpenShared(path, embedded.Options{MSPID: chaincode.RegionMSP(region)})
		return l, mode, err
	case "fabric":
		cfg, err := fabricSettings(f, region)
		if err != nil {
			return nil, "", err
		}
		cfg.Logger = log
		l, err := fabric.Open(cfg)
		return l, mode, err
	default:
		return nil, "", fmt.Errorf("--ledger must be embedded, fabric or auto, not %q", mode)
	}
}

// embeddedPath is the embedded ledger's file: --ledger-file, or
// ledger.db in dataDir.
func embeddedPath(f *pflag.FlagSet, dataDir string) string {
	if path, _ := f.GetString("ledger-file"); path != "" {
		return path
	}
	return filepath.Join(dataDir, ledgerFile)
}

// fabricSettings returns the Fabric connection of the flags for region,
// checked as fabric.Open checks it but without connecting, so serve can
// refuse it before it writes anything. Errors name the flags that were set.
func fabricSettings(f *pflag.FlagSet, region string) (fabric.Config, error) {
	cfg, err := fabricConfig(f)
	if err != nil {
		return cfg, err
	}
	if want := chaincode.RegionMSP(region); cfg.MSPID != want {
		err = fmt.Errorf("Fabric MSP ID %q does not match region %s (want %s)", cfg.MSPID, region, want)
	} else {
		err = cfg.Check()
	}
	if err != nil {
		var set []string
		for _, name := range []string{"ledger", "fabric-profile", "fabric-msp-id", "fabric-cert", "fabric-key", "fabric-peer", "fabric-tls-ca", "fabric-server-name"} {
			if fl := f.Lookup(name); fl != nil && fl.Value.String() != fl.DefValue {
				set = append(set, "--"+name)
			}
		}
		return cfg, fmt.Errorf("%s: %w", strings.Join(set, ", "), err)
	}
	return cfg, nil
}

// fabricConfig reads the profile, then lets each flag override it.
func fabricConfig(f *pflag.FlagSet) (fabric.Config, error) {
	var cfg fabric.Config
	if p, _ := f.GetString("fabric-profile"); p != "" {
		var err error
		if cfg, err = fabric.LoadProfile(p); err != nil {
			return cfg, fmt.Errorf("--fabric-profile: %w", err)
		}
	}
	str := func(name string, dst *string) {
		if v, _ := f.GetString(name); v != "" {
			*dst = v
		}
	}
	file := func(name string, dst *[]byte) error {
		if v, _ := f.GetString(name); v != "" {
			b, err := os.ReadFile(v)
			if err != nil {
				return fmt.Errorf("--%s: %w", name, err)
			}
			*dst = b
		}
		return nil
	}
	str("fabric-msp-id", &cfg.MSPID)
	str("fabric-peer", &cfg.PeerEndpoint)
	str("fabric-server-name", &cfg.ServerName)
	str("fabric-channel", &cfg.Channel)
	str("fabric-chaincode", &cfg.Chaincode)
	for name, dst := range map[string]*[]byte{"fabric-cert": &cfg.CertPEM, "fabric-key": &cfg.KeyPEM, "fabric-tls-ca": &cfg.TLSCAPEM} {
		if err := file(name, dst); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}

// mountLedger returns the mount function of the ledger: it opens the
// backend, makes sure the node's region is in the registry (genesis on an
// empty chain, else an admission request the consortium votes on), starts
// the outbox and the local view, and adds the "ledger" readiness check.
// Everything stops when the command's context ends.
func mountLedger(cmd *cobra.Command) func(*api.Server, *node) error {
	return func(srv *api.Server, n *node) error {
		f := cmd.Flags()
		l, mode, err := openLedger(cmd, n.log, n.dataDir, n.region)
		if errors.Is(err, ledger.ErrUnavailable) {
			return err // "ledger: unavailable: …" already
		}
		if err != nil {
			return fmt.Errorf("ledger: %w", err)
		}
		ctx := cmd.Context()
		if ctx == nil {
			ctx = context.Background()
		}
		c := ledger.Client{L: l}
		maxBatch, _ := f.GetInt("anchor-max-batch")
		window, _ := f.GetDuration("anchor-window")
		limit, _ := f.GetDuration("ledger-stall-limit")
		instead, fix := "start on a new, empty data directory with a copy of the region's "+keystoreFile, ""
		if mode == "embedded" && embeddedPath(f, n.dataDir) == filepath.Join(n.dataDir, ledgerFile) {
			// The region's ledger is in the data directory: a new one
			// would start a new, empty ledger.
			instead = "the whole copy"
			fix = "Put back " + ledgerFile + ", " + outboxFile + " and " + auditFile + " (with its sealed segments, " + auditFile + ".FIRST-LAST) from one copy of the whole data directory, taken with the node stopped: the region's ledger is in it, and a new data directory would start a new, empty ledger"
		}
		if err := missingFromServed(n.dataDir, filepath.Join(n.dataDir, outboxFile), instead); err != nil {
			l.Close()
			return err
		}
		ob, err := ledger.OpenOutbox(filepath.Join(n.dataDir, outboxFile), c, ledger.OutboxOptions{MaxBatch: maxBatch, Window: window, Logger: n.log})
		if err != nil {
			l.Close()
			return fmt.Errorf("ledger outbox: %w", err)
		}
		if err := checkOutboxAhead(ctx, c, n.region, ob, filepath.Join(n.dataDir, outboxFile), fix); err != nil {
			ob.Close()
			l.Close()
			return err
		}
		if err := checkKeysNotRetired(ctx, c, n); err != nil {
			ob.Close()
			l.Close()
			return err
		}
		logDeadBatches(n.log, ob)
		audit, sched, err := openAuditLog(f, n, ob.NodeID())
		if err != nil {
			ob.Close()
			l.Close()
			return err
		}
		err = checkAuditAhead(ctx, c, n.region, audit, filepath.Join(n.dataDir, auditFile), fix)
		if err == nil {
			if _, err = audit.Append(ledger.AuditNodeStarted, "", nil); err != nil {
				err = fmt.Errorf("audit log: %w", err)
			}
		}
		if err != nil {
			audit.Close()
			ob.Close()
			l.Close()
			return err
		}
		nl := &nodeLedger{Ledger: l, Client: c, Outbox: ob, Audit: audit, Mode: mode}
		view := ledger.NewView(viewLedger(l), ledger.ViewOptions{OnEvent: func(ev ledger.Event) { nl.viewEvent(n, ev) }, Logger: n.log})
		nl.View = view
		nl.Clients, nl.AllClients = registry.NewHomeClients(c, view, n.region), registry.NewClients(c, view)
		nl.Terminals = registry.NewTerminals(c, view, n.region)
		n.ledger = nl
		if mode == "embedded" {
			if err := serveAdminSocket(ctx, n.log, n.dataDir, nl); err != nil {
				audit.Close()
				ob.Close()
				l.Close()
				return err
			}
		}

		// The embedded ledger answers at once: register the region before
		// serving, so the registry can be written from the first request.
		registered := mode == "embedded" && ensureRegion(ctx, c, n) == nil
		var wg sync.WaitGroup
		wg.Add(5)
		go func() { defer wg.Done(); anchorStart(ctx, n, c, audit, wallClock) }()
		go func() {
			defer wg.Done()
			if !registered {
				registerRegion(ctx, n, c, mode, wallClock)
			}
		}()
		// The outbox runs on until it has sent what it holds (flushOutbox).
		obCtx, stopOutbox := context.WithCancel(context.WithoutCancel(ctx))
		go func() { defer wg.Done(); runOutbox(obCtx, n.log, ob, time.Second, time.Minute) }()
		go func() { defer wg.Done(); view.Run(ctx) }()
		go func() { defer wg.Done(); runAuditAnchor(ctx, n, c, audit, sched) }()
		n.background.Add(1)
		go func() {
			defer n.background.Done()
			<-ctx.Done()
			nl.hooksMu.Lock()
			settle := slices.Clone(nl.settleHooks)
			nl.hooksMu.Unlock()
			flushOutbox(n.log, ob, settle)
			stopOutbox()
			wg.Wait()
			audit.Close()
			ob.Close()
			l.Close()
		}()
		addLedgerReadiness(srv, l, ob, view, limit)
		st := ob.Stats()
		n.log.Info("ledger ready", slog.String("mode", mode), slog.String("outbox_node", ob.NodeID()),
			slog.Int("outbox_pending", st.Pending), slog.Int("outbox_frozen", st.Frozen))
		return nil
	}
}

// flushOutbox sends, as the node stops, the changes its outbox holds
// (at most 10 s, as the last audit anchor): acknowledged changes
// otherwise wait in the data directory for this instance's next start,
// which a region that scales in may never give them. Then it calls each
// of settle (the status lists hand over the heads of the batches just
// sent) and sends what they gave.
func flushOutbox(log *slog.Logger, ob *ledger.Outbox, settle []func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := ob.Flush(ctx)
	if err != nil {
		cancel() // the hooks only stop
	}
	for _, f := range settle {
		if serr := f(ctx); err == nil {
			err = serr
		}
	}
	if err == nil {
		err = ob.Flush(ctx)
	}
	if err != nil {
		warnUnsent(log, ob, err)
	}
}

// warnUnsent logs what the outbox still holds as the node stops (err
// says why), for the operator of an instance that may not start again.
func warnUnsent(log *slog.Logger, ob *ledger.Outbox, err error) {
	st := ob.Stats()
	log.Warn("ledger outbox not sent before stopping: its changes are sent at the next start on this data directory",
		slog.Int("backlog_changes", st.Backlog), slog.Int("pending_heads", st.HeadsPending), slog.Any("error", err))
}

// checkOutboxAhead refuses an outbox the ledger has moved past (a data
// directory restored from a backup, or copied from another instance's):
// the chain holds a batch under the ID its next batch would get, and
// would refuse that batch for good, losing changes the node acknowledged.
// A ledger that cannot answer now is not waited for: the outbox keeps
// changes while it is down. fix says what to do (aheadFix).
func checkOutboxAhead(ctx context.Context, c ledger.Client, region string, ob *ledger.Outbox, path, fix string) error {
	id, err := ob.NextBatchID()
	if err != nil {
		return fmt.Errorf("ledger outbox: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := c.Batch(ctx, region, id); err != nil {
		return nil
	}
	return fmt.Errorf("ledger outbox %s is behind the ledger: the ledger holds batch %s, the ID its next batch would get, so this data directory was restored from a copy or copied from another instance's, and the status changes it accepts would be refused by the ledger and lost. %s (docs/operations.md, \"Backups\")", path, id, aheadFix(fix))
}

// checkAuditAhead refuses an audit log the ledger has anchored past (a
// data directory restored from a copy taken before a later start on it,
// or copied from another instance's): every start is anchored at once
// (anchorStart), so the copy would hand out again the status entries
// handed out since. A ledger that cannot answer now is not waited for.
// fix says what to do (aheadFix).
func checkAuditAhead(ctx context.Context, c ledger.Client, region string, a *ledger.AuditLog, path, fix string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	an, err := c.AuditAnchor(ctx, region, a.Node())
	if err != nil {
		return nil
	}
	seq, head := a.Head()
	if an.Seq < seq || an.Seq == seq && an.Head == head {
		return nil
	}
	return fmt.Errorf("audit log %s is behind the ledger: the ledger anchored its entry %d, which the log (at entry %d) does not hold, so this data directory was restored from a copy or copied from another instance's, and it would hand out again the status entries of credentials issued since. %s (docs/operations.md, \"Backups\")", path, an.Seq, seq, aheadFix(fix))
}

// aheadFix is what checkOutboxAhead and checkAuditAhead tell to do: fix,
// else to start on a new data directory.
func aheadFix(fix string) string {
	if fix != "" {
		return fix
	}
	return "Start this instance on a new, empty data directory with a copy of the region's " + keystoreFile
}

// anchorStart anchors the audit log past the node's start entry at once,
// retrying until the ledger takes it, so that a copy of the data
// directory taken before this start is refused (checkAuditAhead). The
// instance serves meanwhile: a ledger outage at start does not stop
// issuance (docs/operations.md, "Backups", says what that leaves). A
// failure that repeats (a region pending admission, for days) is logged
// rarely (retrylog); clk is the clock of the retries.
func anchorStart(ctx context.Context, n *node, c ledger.Client, a *ledger.AuditLog, clk retryClock) {
	failed := retrylog.Log{Now: clk.now}
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, _, err := a.Anchor(actx, c)
		cancel()
		switch {
		case err == nil:
			if failed.Failing() {
				n.log.Info("start anchored on the ledger after the failures logged before")
			}
			return
		case errors.Is(err, chaincode.ErrHeadConflict) || errors.Is(err, chaincode.ErrStale) || errors.Is(err, ledger.ErrAuditAnchor):
			n.log.Error("AUDIT LOG REFUSED BY THE LEDGER at start: this data directory was restored from a copy or copied from another instance's; stop this instance and start it on a new data directory (docs/operations.md, \"Backups\")",
				slog.String("node_id", a.Node()), slog.Any("error", err))
		case ctx.Err() == nil:
			failed.Warn(n.log, "start not anchored on the ledger yet; retrying", err, slog.Duration("backoff", wait))
		}
		select {
		case <-ctx.Done():
			return
		case <-clk.after(wait):
		}
	}
}

// registerRegion registers the region, retrying every 5 s (on clk)
// while the ledger cannot answer (a Fabric network still starting), and
// publishes its record once the consortium admits it. Pending admission
// is logged once; another failure that repeats is logged rarely
// (retrylog).
func registerRegion(ctx context.Context, n *node, c ledger.Client, mode string, clk retryClock) {
	pending := false
	failed := retrylog.Log{Now: clk.now}
	for {
		err := ensureRegion(ctx, c, n)
		switch {
		case err == nil:
			return
		case errors.Is(err, errRegionPending):
			if !pending {
				n.log.Info("region is pending admission on the ledger; its keys and endpoint are published once admitted")
			}
			pending = true
		case ctx.Err() == nil:
			failed.Warn(n.log, "region is not registered on the ledger yet; retrying", err, slog.String("mode", mode))
		}
		select {
		case <-ctx.Done():
			return
		case <-clk.after(5 * time.Second):
		}
	}
}

// retryClock is the time a retry loop reads and waits on; a test drives
// its own.
type retryClock struct {
	now   func() time.Time
	after func(time.Duration) <-chan time.Time
}

// wallClock is the retryClock of the node.
var wallClock = retryClock{now: time.Now, after: time.After}

// runOutbox runs the outbox until ctx ends. Run retries the ledger's
// failures itself and returns early only when the outbox file fails: that
// is logged as an error and Run starts again after backoff (doubling to
// maxBackoff). Meanwhile accepted changes wait in the file, their age
// grows, and /readyz turns 503 past --ledger-stall-limit.
func runOutbox(ctx context.Context, log *slog.Logger, ob *ledger.Outbox, backoff, maxBackoff time.Duration) {
	wait := backoff
	for {
		start := time.Now()
		err := ob.Run(ctx)
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > maxBackoff {
			wait = backoff // it ran a good while: a new failure
		}
		log.Error("ledger outbox stopped; restarting it", slog.Duration("backoff", wait), slog.Any("error", err))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, maxBackoff)
	}
}

// logDeadBatches logs, at each start, the status batches the ledger
// refused for good: changes the node accepted that are not anchored.
func logDeadBatches(log *slog.Logger, ob *ledger.Outbox) {
	dead, err := ob.DeadBatches()
	if err != nil {
		log.Error("ledger outbox: cannot read its dead batches", slog.Any("error", err))
	}
	for _, d := range dead {
		log.Error("ledger outbox holds a status batch the ledger refused for good: its changes are not anchored (trustid ledger dead-batches lists them)",
			slog.String("batch", d.ID), slog.Int("changes", len(d.Changes)), slog.String("reason", d.Reason))
	}
}

// ledgerHealth is the node's "ledger" readiness: the ledger answers, the
// view has loaded, the outbox drains and the view follows.
type ledgerHealth struct {
	l       ledger.Ledger
	ob      *ledger.Outbox
	view    *ledger.View
	limit   time.Duration
	started time.Time
}

// Reasons the ledger is not ready (logged by /readyz, never shown).
var (
	errOutboxStalled = errors.New("ledger outbox: the oldest status change or head has waited longer than --ledger-stall-limit")
	errViewStale     = errors.New("ledger view: failing, and not refreshed within --ledger-stall-limit")
)

func (h *ledgerHealth) check(ctx context.Context) error {
	if _, err := h.l.Height(ctx); err != nil {
		return err
	}
	vh := h.view.Health()
	if !vh.Ready && vh.LastError != nil {
		return fmt.Errorf("%w: %w", ledger.ErrNotReady, vh.LastError)
	}
	if !vh.Ready {
		return ledger.ErrNotReady
	}
	if st := h.ob.Stats(); st.OldestAge > h.limit {
		return fmt.Errorf("%w: %v (%d changes pending, %d batches frozen, %d heads; last error: %v)", errOutboxStalled,
			st.OldestAge.Round(time.Millisecond), st.Pending, st.Frozen, st.HeadsPending, st.LastError)
	}
	if age := time.Since(vh.LastRefresh); vh.LastError != nil && age > h.limit {
		return fmt.Errorf("%w: last refresh %v ago: %w", errViewStale, age.Round(time.Millisecond), vh.LastError)
	}
	return nil
}

// ledgerFigures are shown in /readyz under details → ledger, and as the
// Prometheus gauges trustid_ledger_<name>.
var ledgerFigures = []struct{ name, help string }{
	{"outbox_backlog_changes", "Status changes the outbox accepted that are not on the ledger yet."},
	{"outbox_pending_heads", "Status-list heads in the outbox not yet anchored."},
	{"outbox_oldest_age_seconds", "How long the oldest status change (or head) not yet on the ledger has waited; 0 when none."},
	{"outbox_failing", "1 when the outbox's latest ledger transaction failed (it retries), else 0."},
	{"outbox_dead_batches", "Status batches the ledger refused for good: their changes are not anchored and need an operator (the log names each batch)."},
	{"view_failing", "1 when the ledger view has lost the ledger (it retries), else 0."},
	{"view_refresh_age_seconds", "Time since the ledger view last read the whole registry (or since start, before its first read)."},
}

func (h *ledgerHealth) figures() map[string]float64 {
	st, vh := h.ob.Stats(), h.view.Health()
	refreshed := vh.LastRefresh
	if refreshed.IsZero() {
		refreshed = h.started
	}
	one := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	return map[string]float64{
		"outbox_backlog_changes":    float64(st.Backlog),
		"outbox_pending_heads":      float64(st.HeadsPending),
		"outbox_oldest_age_seconds": st.OldestAge.Seconds(),
		"outbox_failing":            one(st.LastError != nil),
		"outbox_dead_batches":       float64(st.Dead),
		"view_failing":              one(vh.LastError != nil),
		"view_refresh_age_seconds":  time.Since(refreshed).Seconds(),
	}
}

// addLedgerReadiness adds the "ledger" readiness check, its figures and
// their metrics to srv.
func addLedgerReadiness(srv *api.Server, l ledger.Ledger, ob *ledger.Outbox, view *ledger.View, limit time.Duration) {
	h := &ledgerHealth{l: l, ob: ob, view: view, limit: limit, started: time.Now()}
	srv.AddCheck("ledger", h.check)
	srv.AddDetails("ledger", h.figures)
	for _, f := range ledgerFigures {
		srv.Registerer().MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "trustid_ledger_" + f.name, Help: f.help},
			func() float64 { return h.figures()[f.name] }))
	}
}

// auditSchedule is how often the audit log is anchored
// (--audit-anchor-interval) and how long its sealed segments are kept
// (--audit-retention; 0: for good).
type auditSchedule struct {
	every, retention time.Duration
}

// openAuditLog opens the node's audit log in the data directory under
// --node-id, or by default the outbox's node ID (stable for the data
// directory), rotated past --audit-segment-size, and returns it with its
// schedule.
func openAuditLog(f *pflag.FlagSet, n *node, outboxID string) (*ledger.AuditLog, auditSchedule, error) {
	id, _ := f.GetString("node-id")
	if id == "" {
		id = outboxID
	}
	if !ledger.ValidAuditNode(id) {
		return nil, auditSchedule{}, fmt.Errorf("--node-id %q: want letters, digits and ._:/-, beginning with a letter or digit (at most 128)", id)
	}
	var sched auditSchedule
	sched.every, _ = f.GetDuration("audit-anchor-interval")
	sched.retention, _ = f.GetDuration("audit-retention")
	size, _ := f.GetInt("audit-segment-size")
	path := filepath.Join(n.dataDir, auditFile)
	a, err := ledger.OpenAuditLog(path, ledger.AuditOptions{Node: id, SegmentSize: int64(size)})
	if err != nil {
		return nil, auditSchedule{}, fmt.Errorf("audit log: %w", err)
	}
	if sched.retention > 0 && sched.retention < sixMonths {
		n.log.Warn("--audit-retention is under six months, the least China's Cybersecurity Law (Art. 21) asks network logs be kept",
			slog.Duration("audit_retention", sched.retention))
	}
	if t := a.Truncated(); t > 0 {
		n.log.Warn("audit log: cut off a torn last line left by a crash (an append that never completed)",
			slog.String("file", path), slog.Int64("bytes", t))
	}
	seq, head := a.Head()
	n.log.Info("audit log open", slog.String("file", path), slog.String("node_id", id), slog.Uint64("seq", seq), slog.String("head", head))
	return a, sched, nil
}

// runAuditAnchor anchors the audit log's head every interval until ctx
// ends, then once more (best effort, 10 s); anchoring rotates the log
// past its segment size. A refusal by the chain — the head forks or is
// older than the anchored one — or a log that does not hold the anchored
// head means the log was rewritten or replaced: it is logged as an error
// each time. Other failures (a ledger that does not answer, a region
// pending admission) are logged rarely while they repeat (retrylog); an
// interval's anchoring cut short by the node's stop is not a failure.
// With a retention, each interval then prunes the sealed segments past it
// (ledger.AuditLog.Prune); its failure (it reads the anchor on the
// ledger) is logged rarely too.
func runAuditAnchor(ctx context.Context, n *node, c ledger.Client, a *ledger.AuditLog, sched auditSchedule) {
	var failed retrylog.Log
	anchor := func(actx context.Context, last bool) {
		an, sent, err := a.Anchor(actx, c)
		if err == nil {
			failed.Reset()
		}
		switch {
		case err != nil && !last && ctx.Err() != nil && actx.Err() != nil:
			// The node is stopping: the interval's anchoring was cut
			// short, it did not fail; the last anchoring follows.
		case errors.Is(err, chaincode.ErrHeadConflict) || errors.Is(err, chaincode.ErrStale) || errors.Is(err, ledger.ErrAuditAnchor):
			seq, head := a.Head()
			n.log.Error("AUDIT LOG REFUSED BY THE LEDGER: the local log does not extend the anchored one (rewritten, replaced or restored from an old copy); run `trustid ledger audit-verify`",
				slog.String("node_id", a.Node()), slog.Uint64("seq", seq), slog.String("head", head), slog.Any("error", err))
		case err != nil:
			failed.Warn(n.log, "audit log anchoring (or its rotation) failed; retrying at the next interval", err)
		case sent:
			n.log.Debug("audit log anchored", slog.Uint64("seq", an.Seq), slog.String("head", an.Head), slog.String("tx", an.Tx))
		}
	}
	var pruneFailed retrylog.Log
	prune := func(actx context.Context) {
		gone, err := a.Prune(actx, c, sched.retention)
		for _, p := range gone {
			n.log.Info("audit log: deleted a sealed segment past --audit-retention", slog.String("file", p))
		}
		switch {
		case err == nil:
			pruneFailed.Reset()
		case errors.Is(err, ledger.ErrAuditAnchor):
			n.log.Error("AUDIT LOG SEGMENTS MISSING: the log begins later than the ledger records it pruned to; nothing more is pruned; run `trustid ledger audit-verify`",
				slog.String("node_id", a.Node()), slog.Any("error", err))
		case ctx.Err() == nil || actx.Err() == nil: // not cut short by the stop
			pruneFailed.Warn(n.log, "audit log pruning failed; retrying at the next interval", err)
		}
	}
	t := time.NewTicker(sched.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			anchor(fctx, true)
			cancel()
			return
		case <-t.C:
			if ctx.Err() != nil {
				continue // the stop came with the tick: only the last anchoring follows
			}
			actx, cancel := context.WithTimeout(ctx, sched.every)
			anchor(actx, false)
			prune(actx)
			cancel()
		}
	}
}

// logOwnHeads returns the view's event hook that logs (at debug) the
// status heads of the node's own region as the chain commits them: list
// IDs, versions and digests, nothing personal.
func logOwnHeads(n *node) func(ledger.Event) {
	return func(ev ledger.Event) {
		if ev.Name != chaincode.EventStatusHeads || !n.log.Enabled(context.Background(), slog.LevelDebug) {
			return
		}
		var he chaincode.HeadsEvent
		if json.Unmarshal(ev.Payload, &he) != nil || he.Region != n.region {
			return
		}
		for _, h := range he.Heads {
			n.log.Debug("status head anchored", slog.String("list", h.List), slog.Uint64("version", h.Version),
				slog.String("digest", h.Digest), slog.Uint64("block", ev.Block))
		}
	}
}

// errRegionPending is ensureRegion's answer while the region waits for
// the consortium's vote: until then its record is its admission request,
// which the contract lets it change no more.
var errRegionPending = errors.New("region is pending admission on the ledger")

// ensureRegion registers the node's region with its published keys, if
// it is not registered: on an empty chain it becomes the genesis region;
// otherwise it waits, pending, for the consortium's vote
// (errRegionPending). An admitted region's record gets the node's issuer
// URL and DID (syncRegionEndpoint) and the keystore's key changes
// (syncRegionKeys), also those made while it was pending.
func ensureRegion(ctx context.Context, c ledger.Client, n *node) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	// fromRecord goes on from the region's record r.
	fromRecord := func(r chaincode.Region) error {
		if r.Status == chaincode.RegionPending {
			return errRegionPending
		}
		// The keys are published even when the record cannot be pointed
		// at this node (they are what other regions verify with).
		if err := syncRegionEndpoint(ctx, c, n, r); err != nil {
			n.log.Warn("region record not pointed at this node", slog.String("error", err.Error()))
		}
		return syncRegionKeys(ctx, c, n)
	}
	r, err := c.Region(ctx, n.region)
	if err == nil {
		return fromRecord(r)
	}
	if !errors.Is(err, chaincode.ErrNotFound) {
		return err
	}
	in := chaincode.RegionInput{Code: n.region, DID: regionDID(n.issuer, n.region),
		Endpoints: []chaincode.Endpoint{{Type: "api", URL: n.issuer}}}
	for _, k := range n.keys.Published() {
		j, err := gm.NewJWK(k.Public, k.Kid)
		if err != nil {
			return err
		}
		in.Keys = append(in.Keys, j)
	}
	r, err = c.RequestRegion(ctx, in)
	if errors.Is(err, chaincode.ErrExists) {
		// Another instance of the region registered it meanwhile: go on
		// from the record it wrote (pending: wait for the vote).
		if r, err = c.Region(ctx, n.region); err != nil {
			return err
		}
		return fromRecord(r)
	}
	if err != nil {
		return err
	}
	n.log.Info("region registered on the ledger", slog.String("status", r.Status), slog.String("did", r.DID))
	if r.Status == chaincode.RegionPending {
		return errRegionPending
	}
	return nil
}

// syncRegionEndpoint points the region's record r at this node, as the
// region's administrator, when it names another: its "api" endpoint
// becomes the node's issuer URL and its DID the issuer's did:web (what
// the node's credentials name), so other regions find and call the node
// where it now is. The name and other endpoints stay. A region not
// active is skipped (the contract refuses its writes). UpdateRegion is submitted
// again after a read conflict (another instance starting); all instances
// of a region share one issuer URL, so they write the same record.
func syncRegionEndpoint(ctx context.Context, c ledger.Client, n *node, r chaincode.Region) error {
	if r.Status != chaincode.RegionActive {
		return nil
	}
	// Only a URL other regions' nodes will call: https in production
	// (a node started with a plain-http or loopback issuer, for a look or a
	// debug run, leaves the record as it is).
	if err := federation.CheckEndpoint(n.issuer, n.peerDev); err != nil {
		return fmt.Errorf("this node's issuer %s is not an endpoint other regions call: %w", n.issuer, err)
	}
	did := regionDID(n.issuer, n.region)
	eps := []chaincode.Endpoint{{Type: "api", URL: n.issuer}}
	same := r.DID == did
	for _, e := range r.Endpoints {
		if e.Type == "api" {
			same = same && e.URL == n.issuer
			continue
		}
		eps = append(eps, e)
	}
	if same && len(eps) == len(r.Endpoints) {
		return nil
	}
	if _, err := c.UpdateRegion(ctx, chaincode.RegionInput{Code: n.region, DID: did, Name: r.Name, Endpoints: eps}); err != nil {
		return fmt.Errorf("point region %s's record at this node: %w", n.region, err)
	}
	n.log.Warn("region record moved to this node", slog.String("old_did", r.DID), slog.String("did", did),
		slog.String("old_api", r.API()), slog.String("api", n.issuer))
	return nil
}

// regionDID is did:web of the node's issuer URL (port percent-encoded;
// the DID its credentials name as issuer, so verifiers find the region by
// it), or did:web:<region>.trustid.invalid when the issuer has no host.
func regionDID(issuer, region string) string {
	if did, err := vc.DIDWeb(issuer); err == nil {
		return did
	}
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" {
		return "did:web:" + region + ".trustid.invalid"
	}
	did := "did:web:" + strings.ReplaceAll(u.Host, ":", "%3A")
	if p := strings.Trim(u.Path, "/"); p != "" {
		did += ":" + strings.ReplaceAll(p, "/", ":")
	}
	return did
}

// newLedgerCmd is `trustid ledger`: operator commands on the ledger the
// flags select (the embedded file is locked while a node serves on it).
func newLedgerCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ledger",
		Short: "Inspect the ledger and vote on consortium changes",
	}
	pf := cmd.PersistentFlags()
	pf.String("region", "310000", "the region (organization) to act as")
	addLedgerConnFlags(pf)

	withLedger := func(run func(ctx context.Context, c ledger.Client, l ledger.Ledger, args []string) (any, error)) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, args []string) error {
			region, _ := cmd.Flags().GetString("region")
			if !validRegion(region) {
				return fmt.Errorf("--region %q: want a GB/T 2260 province-level code such as 310000", region)
			}
			if err := needEmbeddedLedger(cmd); err != nil {
				return err
			}
			l, _, err := openLedger(cmd, nil, dataDir(cmd), region)
			if err != nil {
				return err
			}
			defer l.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
			defer cancel()
			out, err := run(ctx, ledger.Client{L: l}, l, args)
			if err != nil {
				return err
			}
			return printJSON(cmd, out)
		}
	}
	cmd.AddCommand(&cobra.Command{
		Use: "regions", Short: "List the consortium's regions", Args: cobra.NoArgs,
		RunE: withLedger(func(ctx context.Context, c ledger.Client, _ ledger.Ledger, _ []string) (any, error) {
			return c.Regions(ctx)
		}),
	}, &cobra.Command{
		Use: "proposals", Short: "List open consortium changes and their votes", Args: cobra.NoArgs,
		RunE: withLedger(func(ctx context.Context, c ledger.Client, _ ledger.Ledger, _ []string) (any, error) {
			return c.Proposals(ctx)
		}),
	}, &cobra.Command{
		Use:   "vote admit|suspend|reinstate REGION",
		Short: "Vote, as --region, to admit, suspend or reinstate a region (a majority of the other active regions decides)",
		Args:  cobra.ExactArgs(2),
		RunE: withLedger(func(ctx context.Context, c ledger.Client, _ ledger.Ledger, args []string) (any, error) {
			if err := c.Vote(ctx, args[0], args[1]); err != nil {
				return nil, err
			}
			return c.Region(ctx, args[1])
		}),
	}, &cobra.Command{
		Use: "head REGION LIST", Short: "Show a status list's anchored head", Args: cobra.ExactArgs(2),
		RunE: withLedger(func(ctx context.Context, c ledger.Client, _ ledger.Ledger, args []string) (any, error) {
			return c.StatusHead(ctx, args[0], args[1])
		}),
	}, &cobra.Command{
		Use: "verify", Short: "Check the embedded ledger's block log and state", Args: cobra.NoArgs,
		RunE: withLedger(func(ctx context.Context, _ ledger.Client, l ledger.Ledger, _ []string) (any, error) {
			e, ok := l.(*embedded.Ledger)
			if !ok {
				return nil, errors.New("verify checks the embedded ledger; Fabric peers validate their own blocks")
			}
			if err := e.Verify(); err != nil {
				return nil, err
			}
			h, err := e.Height(ctx)
			return map[string]any{"verified": true, "blocks": h}, err
		}),
	}, &cobra.Command{
		Use:   "dead-batches",
		Short: "List the status changes the ledger refused for good (the outbox's dead batches; with the node stopped)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dead, err := deadBatches(filepath.Join(dataDir(cmd), outboxFile))
			if err != nil {
				return err
			}
			return printJSON(cmd, dead)
		},
	}, &cobra.Command{
		Use:   "audit-verify",
		Short: "Check the node's audit log chain (DATA/audit.log and its sealed segments) and compare it with its anchor on the ledger",
		Args:  cobra.NoArgs,
		RunE: func(sub *cobra.Command, args []string) error {
			return withLedger(func(ctx context.Context, c ledger.Client, _ ledger.Ledger, _ []string) (any, error) {
				return auditVerify(ctx, c, sub)
			})(sub, args)
		},
	})
	if av, _, err := cmd.Find([]string{"audit-verify"}); err == nil {
		av.Flags().String("node-id", "", "ID the audit log is anchored under on the ledger (default: the node the log names; another is refused)")
	}
	return cmd
}

// needEmbeddedLedger refuses a command on an embedded ledger file that
// does not exist. Only a node makes the file (and registers its region on
// it): the operator commands read or write one that exists, where a
// mistyped --data would get an empty one without the region.
func needEmbeddedLedger(cmd *cobra.Command) error {
	if ledgerMode(cmd.Flags()) != "embedded" {
		return nil
	}
	if path := embeddedPath(cmd.Flags(), dataDir(cmd)); isNotExist(path) {
		return fmt.Errorf("no embedded ledger at %s: check --data (or --ledger-file); `trustid serve` makes it", path)
	}
	return nil
}

// isNotExist reports whether nothing is at path.
func isNotExist(path string) bool {
	_, err := os.Stat(path)
	return errors.Is(err, fs.ErrNotExist)
}

// deadBatches returns the dead batches of the outbox file at path (none
// when there is no file).
func deadBatches(path string) ([]ledger.DeadBatch, error) {
	if isNotExist(path) {
		return []ledger.DeadBatch{}, nil
	}
	ob, err := ledger.OpenOutbox(path, nil, ledger.OutboxOptions{})
	if err != nil {
		return nil, err
	}
	defer ob.Close()
	dead, err := ob.DeadBatches()
	if dead == nil && err == nil {
		dead = []ledger.DeadBatch{}
	}
	return dead, err
}

// auditVerify checks the data directory's audit log — every segment left
// and the links between them — and its anchor, under --node-id or the
// node the log names.
func auditVerify(ctx context.Context, c ledger.Client, cmd *cobra.Command) (any, error) {
	path := filepath.Join(dataDir(cmd), auditFile)
	region, _ := cmd.Flags().GetString("region")
	sum, err := ledger.VerifyAuditLog(path, 0)
	if err != nil {
		return nil, err
	}
	node, _ := cmd.Flags().GetString("node-id")
	if node == "" {
		node = sum.Node
	}
	if node != sum.Node {
		return nil, fmt.Errorf("%w: %s was created for node %q, not %q", ledger.ErrAuditNode, path, sum.Node, node)
	}
	out := map[string]any{"file": path, "node_id": node, "first": sum.First, "segments": sum.Segments, "seq": sum.Seq, "head": sum.Head, "chain_verified": true}
	if sum.TornBytes > 0 {
		out["torn_bytes"] = sum.TornBytes
	}
	an, err := c.AuditAnchor(ctx, region, node)
	if errors.Is(err, chaincode.ErrNotFound) {
		out["anchored"] = false
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	if sum, err = ledger.VerifyAuditLog(path, an.Seq); err != nil {
		return nil, err
	}
	if err := ledger.CheckAnchor(sum, an); err != nil {
		return nil, err
	}
	if err := ledger.CheckPruned(sum, an); err != nil {
		// The node records a pruning before it deletes: one that
		// deleted segments while the log was read is on the ledger now.
		again, aerr := c.AuditAnchor(ctx, region, node)
		if aerr != nil || ledger.CheckPruned(sum, again) != nil {
			return nil, err
		}
		an.Pruned = again.Pruned
	}
	if an.Pruned.Seq > 0 {
		out["pruned_through"], out["pruned_to"] = an.Pruned.Seq, an.Pruned.To
	}
	out["anchored"] = true
	out["anchored_seq"], out["anchored_at"], out["anchor_tx"] = an.Seq, an.Time, an.Tx
	out["unanchored_entries"] = sum.Seq - an.Seq
	return out, nil
}

// printJSON prints v indented, or on one line with -o json.
func printJSON(cmd *cobra.Command, v any) error {
	if jsonOutput(cmd) {
		return writeJSON(cmd.OutOrStdout(), v)
	}
	enc := json.NewEncoder(cmd.OutOrStdout())
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// viewCounts counts a region's registry records from the ledger view
// (api.RegistryCounter).
type viewCounts struct{ v *ledger.View }

// RegistryCounts implements api.RegistryCounter.
func (c viewCounts) RegistryCounts(region string) api.RegistryCounts {
	out := api.RegistryCounts{Terminals: map[string]int{}, Issuers: map[string]int{}}
	for _, t := range c.v.Terminals() {
		if t.Region == region {
			out.Terminals[t.Status]++
		}
	}
	for _, x := range c.v.Issuers() {
		if x.Region == region {
			out.Issuers[x.Status]++
		}
	}
	return out
}

// ledgerSectors is the enrollment.SectorRegistry of the node's ledger: the
// contract lets one relying party of the consortium hold each pairwise
// sector.
type ledgerSectors struct{ c ledger.Client }

// sectorsOf returns the sector registry of n's ledger, or nil when n runs
// without one.
func sectorsOf(n *node) enrollment.SectorRegistry {
	if n.ledger == nil {
		return nil
	}
	return ledgerSectors{n.ledger.Client}
}

// ClaimSector implements enrollment.SectorRegistry.
func (s ledgerSectors) ClaimSector(ctx context.Context, clientID string, sector identity.Sector) error {
	var kind string
	switch sector.Kind {
	case identity.SectorIdentifier:
		kind = chaincode.SectorKindIdentifier
	case identity.SectorClientID:
		kind = chaincode.SectorKindClientID
	default:
		return fmt.Errorf("sector kind %d is not a relying party's", sector.Kind)
	}
	_, err := s.c.ClaimSector(ctx, chaincode.SectorClaim{Kind: kind, Name: sector.Name, ClientID: clientID})
	switch {
	case errors.Is(err, chaincode.ErrExists):
		return fmt.Errorf("%w: %w", enrollment.ErrSectorTaken, err)
	case errors.Is(err, chaincode.ErrForeignParty):
		return fmt.Errorf("%w: %w", enrollment.ErrForeignParty, err)
	}
	return err
}
