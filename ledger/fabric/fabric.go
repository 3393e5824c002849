// Package fabric is the ledger backend over a Hyperledger Fabric channel
// through fabric-gateway (gRPC): [Open] connects to one peer's gateway as one
// MSP, [LoadProfile] reads a Fabric common connection profile. It implements
// [ledger.Ledger]; only cmd/trustid (wiring) and tests import it, so code that
// uses the ledger's View or Outbox links neither fabric-gateway nor gRPC.
package fabric

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hyperledger/fabric-gateway/pkg/client"
	"github.com/hyperledger/fabric-gateway/pkg/hash"
	"github.com/hyperledger/fabric-gateway/pkg/identity"
	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/ledger"
)

// Config says how to reach a Fabric peer's gateway and as whom.
// LoadProfile fills it from a Fabric common connection profile.
type Config struct {
	MSPID        string // e.g. Region310000MSP
	CertPEM      []byte // the client's X.509 certificate
	KeyPEM       []byte // its private key (PKCS#8 or SEC 1 PEM)
	PeerEndpoint string // host:port of the peer's gateway
	TLSCAPEM     []byte // CA certificates for the peer's TLS certificate
	// ServerName overrides the TLS server name (default: the endpoint's
	// host).
	ServerName string
	Channel    string // default "trustid"
	Chaincode  string // default "trustid"
	// Timeouts; zero values: evaluate 10 s, endorse 30 s, submit 10 s,
	// commit status 60 s.
	EvaluateTimeout, EndorseTimeout, SubmitTimeout, CommitTimeout time.Duration
	// Logger gets the event stream's breaks and recoveries (Events);
	// nil: slog.Default().
	Logger *slog.Logger
}

// Ledger is the ledger.Ledger over a Hyperledger Fabric channel through the
// peer's gateway (fabric-gateway). Transactions are endorsed as the
// channel's endorsement policy requires (the gateway finds the endorsers).
type Ledger struct {
	cfg      Config
	conn     *grpc.ClientConn
	gw       *client.Gateway
	network  *client.Network
	contract *client.Contract
	qscc     *client.Contract

	mu     sync.Mutex
	closed bool
}

var _ ledger.Ledger = (*Ledger)(nil)

// ErrConfig reports an unusable Fabric configuration.
var ErrConfig = errors.New("ledger: invalid Fabric configuration")

// Open connects to the peer. It does not call it: use Height to
// check that it answers.
func Open(cfg Config) (*Ledger, error) {
	if cfg.Channel == "" {
		cfg.Channel = "trustid"
	}
	if cfg.Chaincode == "" {
		cfg.Chaincode = "trustid"
	}
	for _, d := range []struct {
		v *time.Duration
		d time.Duration
	}{{&cfg.EvaluateTimeout, 10 * time.Second}, {&cfg.EndorseTimeout, 30 * time.Second}, {&cfg.SubmitTimeout, 10 * time.Second}, {&cfg.CommitTimeout, 60 * time.Second}} {
		if *d.v <= 0 {
			*d.v = d.d
		}
	}
	id, sign, tlsCfg, err := cfg.parse()
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(cfg.PeerEndpoint, grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(100<<20), grpc.MaxCallSendMsgSize(100<<20)))
	if err != nil {
		return nil, fmt.Errorf("%w: peer %s: %v", ErrConfig, cfg.PeerEndpoint, err)
	}
	gw, err := client.Connect(id, client.WithSign(sign), client.WithHash(hash.SHA256), client.WithClientConnection(conn),
		client.WithEvaluateTimeout(cfg.EvaluateTimeout), client.WithEndorseTimeout(cfg.EndorseTimeout),
		client.WithSubmitTimeout(cfg.SubmitTimeout), client.WithCommitStatusTimeout(cfg.CommitTimeout))
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("%w: %v", ledger.ErrUnavailable, err)
	}
	network := gw.GetNetwork(cfg.Channel)
	return &Ledger{cfg: cfg, conn: conn, gw: gw, network: network,
		contract: network.GetContract(cfg.Chaincode), qscc: network.GetContract("qscc")}, nil
}

// Check reports, without connecting, what Open would refuse in cfg: a
// missing MSP ID, a peer endpoint that is not host:port, a certificate,
// key or TLS CA that does not parse. Errors match ErrConfig.
func (cfg Config) Check() error {
	_, _, _, err := cfg.parse()
	return err
}

// parse checks cfg and returns the client's identity, its signer and the
// TLS settings of the peer connection.
func (cfg Config) parse() (*identity.X509Identity, identity.Sign, *tls.Config, error) {
	if cfg.MSPID == "" || cfg.PeerEndpoint == "" {
		return nil, nil, nil, fmt.Errorf("%w: MSP ID and peer endpoint are required", ErrConfig)
	}
	if !hostPort(cfg.PeerEndpoint) {
		return nil, nil, nil, fmt.Errorf("%w: peer endpoint %.64q: want host:port", ErrConfig, cfg.PeerEndpoint)
	}
	cert, err := identity.CertificateFromPEM(cfg.CertPEM)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: client certificate: %v", ErrConfig, err)
	}
	id, err := identity.NewX509Identity(cfg.MSPID, cert)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	key, err := identity.PrivateKeyFromPEM(cfg.KeyPEM)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: client key: %v", ErrConfig, err)
	}
	sign, err := identity.NewPrivateKeySign(key)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: client key: %v", ErrConfig, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(cfg.TLSCAPEM) {
		return nil, nil, nil, fmt.Errorf("%w: no CA certificate in the peer TLS CA", ErrConfig)
	}
	return id, sign, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12, ServerName: cfg.ServerName}, nil
}

// hostPort reports whether s is host:port: a DNS name or IP address (IPv6
// in brackets) and a port from 1 to 65535, with no scheme or path.
func hostPort(s string) bool {
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" {
		return false
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
		return false
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	for _, label := range strings.Split(strings.TrimSuffix(host, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// MSPID implements ledger.Ledger.
func (f *Ledger) MSPID() string { return f.cfg.MSPID }

// Close implements ledger.Ledger.
func (f *Ledger) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	f.gw.Close()
	return f.conn.Close()
}

// Submit implements ledger.Ledger: endorse, order, and wait for the commit.
// It is the gateway's SubmitWithContext, keeping the commit status's
// block number.
func (f *Ledger) Submit(ctx context.Context, fn string, args ...string) ([]byte, uint64, error) {
	out, commit, err := f.contract.SubmitAsyncWithContext(ctx, fn, client.WithArguments(args...))
	if err != nil {
		return nil, 0, fabricError(fn, err)
	}
	st, err := commit.StatusWithContext(ctx)
	if err != nil {
		return nil, 0, fabricError(fn, err)
	}
	if !st.Successful {
		return nil, 0, fabricError(fn, &client.CommitError{TransactionID: st.TransactionID, Code: st.Code})
	}
	return out, st.BlockNumber, nil
}

// Evaluate implements ledger.Ledger.
func (f *Ledger) Evaluate(ctx context.Context, fn string, args ...string) ([]byte, error) {
	out, err := f.contract.EvaluateWithContext(ctx, fn, client.WithArguments(args...))
	if err != nil {
		return nil, fabricError(fn, err)
	}
	return out, nil
}

// Height implements ledger.Ledger, from the peer's qscc GetChainInfo.
func (f *Ledger) Height(ctx context.Context) (uint64, error) {
	raw, err := f.qscc.EvaluateWithContext(ctx, "GetChainInfo", client.WithArguments(f.cfg.Channel))
	if err != nil {
		return 0, fabricError("GetChainInfo", err)
	}
	var info common.BlockchainInfo
	if err := proto.Unmarshal(raw, &info); err != nil {
		return 0, fmt.Errorf("%w: chain info: %v", ledger.ErrUnavailable, err)
	}
	return info.GetHeight(), nil
}

// TxBlock implements ledger.Ledger, from the peer's qscc GetBlockByTxID.
func (f *Ledger) TxBlock(ctx context.Context, txID string) (uint64, error) {
	raw, err := f.qscc.EvaluateWithContext(ctx, "GetBlockByTxID", client.WithArguments(f.cfg.Channel, txID))
	if err != nil {
		for _, t := range errorTexts(err) {
			// The peer's block index (common/ledger/blkstorage): an ID it
			// never saw, or one from before the snapshot it started from.
			if strings.Contains(t, "no such transaction ID") || strings.Contains(t, "not available. Ledger bootstrapped from a snapshot") {
				return 0, fmt.Errorf("%w: the peer knows no block of transaction %s", chaincode.ErrNotFound, txID)
			}
		}
		return 0, fabricError("GetBlockByTxID", err)
	}
	var b common.Block
	if err := proto.Unmarshal(raw, &b); err != nil {
		return 0, fmt.Errorf("%w: block of transaction %s: %v", ledger.ErrUnavailable, txID, err)
	}
	return b.GetHeader().GetNumber(), nil
}

// Events implements ledger.Ledger. When the stream breaks (a peer restart) it
// reconnects every eventsRetry from the last block delivered, skipping events
// already sent. The break is logged at once, an outage that lasts again every
// minute, and the recovery when the new stream has delivered an event or
// stayed open for eventsRetry (a stream that ends at once is not one).
func (f *Ledger) Events(ctx context.Context, from uint64) (<-chan ledger.Event, error) {
	first, err := f.network.ChaincodeEvents(ctx, f.cfg.Chaincode, client.WithStartBlock(from))
	if err != nil {
		return nil, fabricError("events", err)
	}
	out := make(chan ledger.Event, 64)
	go func() {
		defer close(out)
		in := first
		// last is the block of the last event sent (when any was), sent
		// the transactions of that block already delivered.
		var last uint64
		delivered := false
		sent := map[string]bool{}
		var o outage
		for {
			var open <-chan time.Time // fires once a stream after a break stayed open
			t := time.NewTimer(eventsRetry)
			if o.since != nil {
				open = t.C
			}
			for reading := true; reading; {
				select {
				case <-ctx.Done():
					return
				case <-open:
					open = nil
					o.recovered(f.log(), last)
				case ev, ok := <-in:
					if !ok {
						reading = false
						break
					}
					o.recovered(f.log(), ev.BlockNumber)
					open = nil
					if delivered && (ev.BlockNumber < last || (ev.BlockNumber == last && sent[ev.TransactionID])) {
						continue
					}
					if !delivered || ev.BlockNumber > last {
						last, delivered, sent = ev.BlockNumber, true, map[string]bool{}
					}
					sent[ev.TransactionID] = true
					select {
					case out <- ledger.Event{Block: ev.BlockNumber, TxID: ev.TransactionID, Name: ev.EventName, Payload: ev.Payload}:
					case <-ctx.Done():
						return
					}
				}
			}
			t.Stop()
			start := from
			if delivered {
				start = last // that block may hold more events
			}
			for {
				if ctx.Err() != nil {
					return
				}
				o.broke(f.log(), start)
				select {
				case <-ctx.Done():
					return
				case <-time.After(eventsRetry):
				}
				if in, err = f.network.ChaincodeEvents(ctx, f.cfg.Chaincode, client.WithStartBlock(start)); err == nil {
					break
				}
			}
		}
	}()
	return out, nil
}

// eventsRetry is how long Events waits before it opens a broken stream again,
// and how long a new stream must stay open to count as a recovery.
const eventsRetry = time.Second

// outage is an event stream's break as Events logs it: nil since while the
// stream is up.
type outage struct {
	since    *time.Time
	logged   time.Time // the last warning
	attempts int       // streams opened since the break
}

// broke notes one more attempt to open the stream from block from, and warns
// of the break when it begins and every minute while it lasts.
func (o *outage) broke(log *slog.Logger, from uint64) {
	now := time.Now()
	if o.since == nil {
		o.since, o.attempts, o.logged = &now, 0, now
		log.Warn("ledger: the Fabric event stream broke; reconnecting", "from_block", from)
	} else if now.Sub(o.logged) >= time.Minute {
		o.logged = now
		log.Warn("ledger: the Fabric event stream is still broken", "from_block", from, "since", o.since.UTC().Format(time.RFC3339), "attempts", o.attempts)
	}
	o.attempts++
}

// recovered logs the end of an outage, if there is one.
func (o *outage) recovered(log *slog.Logger, block uint64) {
	if o.since == nil {
		return
	}
	log.Info("ledger: the Fabric event stream is back", "block", block, "down_for", time.Since(*o.since).Round(time.Millisecond).String(), "attempts", o.attempts)
	o.since = nil
}

func (f *Ledger) log() *slog.Logger {
	if f.cfg.Logger != nil {
		return f.cfg.Logger
	}
	return slog.Default()
}

// payloadsDiffer is the gateway's reason for an endorsement whose peers
// answered differently: they simulated it at different ledger heights
// (one had not yet committed the block of a write just made), or one
// runs another contract.
const payloadsDiffer = "ProposalResponsePayloads do not match"

// errorTexts is err's message and those of the peers' error details.
func errorTexts(err error) []string {
	text := []string{err.Error()}
	if st, ok := status.FromError(err); ok {
		for _, d := range st.Details() {
			if ed, ok := d.(*gateway.ErrorDetail); ok {
				text = append(text, ed.GetMessage())
			}
		}
	}
	return text
}

// fabricError turns a gateway error into the contract's sentinel when the
// chaincode refused, else into ledger.ErrUnavailable; endorsements that
// did not match, like read conflicts at commit, are also
// ledger.ErrConflict (a write submitted again is endorsed on the newer
// state).
func fabricError(fn string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %s: %w", ledger.ErrUnavailable, fn, err)
	}
	text := errorTexts(err)
	for _, t := range text {
		if ce := chaincode.FromWire(t); ce != nil {
			return ce
		}
	}
	for _, t := range text[1:] {
		if strings.Contains(t, payloadsDiffer) {
			return fmt.Errorf("%w: %w: %s: endorsing peers disagree (%s)", ledger.ErrUnavailable, ledger.ErrConflict, fn, payloadsDiffer)
		}
	}
	var commitErr *client.CommitError
	if errors.As(err, &commitErr) {
		if commitErr.Code == peer.TxValidationCode_MVCC_READ_CONFLICT || commitErr.Code == peer.TxValidationCode_PHANTOM_READ_CONFLICT {
			return fmt.Errorf("%w: %w: %s: transaction %s not committed: %s", ledger.ErrUnavailable, ledger.ErrConflict, fn, commitErr.TransactionID, commitErr.Code)
		}
		return fmt.Errorf("%w: %s: transaction %s not committed: %s", ledger.ErrUnavailable, fn, commitErr.TransactionID, commitErr.Code)
	}
	return fmt.Errorf("%w: %s: %s", ledger.ErrUnavailable, fn, strings.Join(text, "; "))
}
