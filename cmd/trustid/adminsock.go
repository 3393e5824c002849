package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/ledger"
)

// The admin socket: a node on the embedded ledger holds the file's lock,
// so the local `trustid clients` and `trustid terminals` commands submit
// their registry transactions through the node. The socket is
// DATA/admin.sock, mode 0600: whoever may open it may already read and
// write the data directory (the keystore, the ledger file), so the file
// system's permission is the administrator's authority, as it is for
// those files. Only the registry's functions pass.
const adminSocketFile = "admin.sock"

// adminFunctions are the contract functions the admin socket relays:
// the registry's, and the paged lists the CLI reads them with
// (ledger.Client's lists; TestTerminalsCLI, TestClientsCLIAndLiveReload).
var adminFunctions = []string{
	"AddRelyingParty", "PutRelyingParty", "GetRelyingParty", "ListRelyingParties", "ListRelyingPartiesPage",
	"AddTerminal", "PutTerminal", "GetTerminal", "ListTerminals", "ListTerminalsPage", "GetRegion",
}

// adminRequest is one call through the admin socket.
type adminRequest struct {
	MSPID  string   `json:"msp_id"`
	Submit bool     `json:"submit"`
	Fn     string   `json:"fn"`
	Args   []string `json:"args"`
}

// serveAdminSocket listens on DATA/admin.sock until ctx ends, relaying
// registry calls to l. A socket left by a node that died is replaced; one
// a live node answers on is an error (two nodes on one data directory).
//
// A write is answered once the node's view shows it (nl's registries'
// Await), so what the CLI wrote is in effect on the node when it returns.
func serveAdminSocket(ctx context.Context, log *slog.Logger, dataDir string, nl *nodeLedger) error {
	l := nl.Ledger
	path := filepath.Join(dataDir, adminSocketFile)
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("admin socket %s: another node serves on it", path)
	}
	os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("admin socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("admin socket: %w", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req adminRequest
		dec := json.NewDecoder(io.LimitReader(r.Body, 4<<20))
		dec.DisallowUnknownFields()
		if r.Method != http.MethodPost || dec.Decode(&req) != nil {
			http.Error(w, "want POST of a JSON call", http.StatusBadRequest)
			return
		}
		if !slices.Contains(adminFunctions, req.Fn) || chaincode.ReadOnly(req.Fn) == req.Submit {
			http.Error(w, "not a registry call", http.StatusForbidden)
			return
		}
		if req.MSPID != l.MSPID() {
			http.Error(w, fmt.Sprintf("this node acts as %s, not %s (check --region)", l.MSPID(), req.MSPID), http.StatusForbidden)
			return
		}
		var out []byte
		var err error
		if req.Submit {
			log.Info("registry change through the admin socket", slog.String("fn", req.Fn))
			out, _, err = l.Submit(r.Context(), req.Fn, req.Args...)
		} else {
			out, err = l.Evaluate(r.Context(), req.Fn, req.Args...)
		}
		switch {
		case err == nil:
			settle(r.Context(), nl, req.Fn, out)
			w.Write(out)
		case errors.As(err, new(*chaincode.Error)):
			w.WriteHeader(http.StatusUnprocessableEntity)
			io.WriteString(w, chaincode.WireMessage(err))
		default:
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		}
	}), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
		os.Remove(path)
	}()
	go srv.Serve(ln)
	log.Info("admin socket ready", slog.String("path", path))
	return nil
}

// settle waits until the node's view shows the record a registry write
// returned.
func settle(ctx context.Context, nl *nodeLedger, fn string, out []byte) {
	switch fn {
	case "AddRelyingParty", "PutRelyingParty":
		var rp chaincode.RelyingParty
		if json.Unmarshal(out, &rp) == nil {
			nl.Clients.Await(ctx, rp)
		}
	case "AddTerminal", "PutTerminal":
		var t chaincode.Terminal
		if json.Unmarshal(out, &t) == nil {
			nl.Terminals.Await(ctx, t)
		}
	}
}

// socketLedger is the ledger as the local CLI sees it through a running
// node's admin socket: registry calls only.
type socketLedger struct {
	path  string
	msp   string
	httpc *http.Client
}

var _ ledger.Ledger = (*socketLedger)(nil)

// dialAdminSocket returns the admin socket of a node running on dataDir,
// or false when none answers.
func dialAdminSocket(dataDir, msp string) (*socketLedger, bool) {
	path := filepath.Join(dataDir, adminSocketFile)
	c, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return nil, false
	}
	c.Close()
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}}
	return &socketLedger{path: path, msp: msp, httpc: &http.Client{Transport: tr, Timeout: time.Minute}}, true
}

func (s *socketLedger) call(ctx context.Context, submit bool, fn string, args []string) ([]byte, error) {
	body, err := json.Marshal(adminRequest{MSPID: s.msp, Submit: submit, Fn: fn, Args: args})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://node/", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	resp, err := s.httpc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: admin socket %s: %v", ledger.ErrUnavailable, s.path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("%w: admin socket: %v", ledger.ErrUnavailable, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return out, nil
	case http.StatusUnprocessableEntity:
		if err := chaincode.FromWire(string(out)); err != nil {
			return nil, err
		}
	case http.StatusForbidden, http.StatusBadRequest:
		return nil, fmt.Errorf("%w: admin socket: %s", chaincode.ErrForbidden, bytes.TrimSpace(out))
	}
	return nil, fmt.Errorf("%w: admin socket: %s", ledger.ErrUnavailable, bytes.TrimSpace(out))
}

// Submit relays a registry write; the block is not told (0).
func (s *socketLedger) Submit(ctx context.Context, fn string, args ...string) ([]byte, uint64, error) {
	out, err := s.call(ctx, true, fn, args)
	return out, 0, err
}

func (s *socketLedger) Evaluate(ctx context.Context, fn string, args ...string) ([]byte, error) {
	return s.call(ctx, false, fn, args)
}

var errSocketOnly = errors.New("the admin socket relays registry calls only")

func (s *socketLedger) Events(context.Context, uint64) (<-chan ledger.Event, error) {
	return nil, errSocketOnly
}

func (s *socketLedger) Height(context.Context) (uint64, error)          { return 0, errSocketOnly }
func (s *socketLedger) TxBlock(context.Context, string) (uint64, error) { return 0, errSocketOnly }
func (s *socketLedger) MSPID() string                                   { return s.msp }
func (s *socketLedger) Close() error                                    { s.httpc.CloseIdleConnections(); return nil }

// openRegistryLedger opens the ledger the registry commands write to, as
// region's administrator: Fabric with the flags' identity; for the
// embedded ledger, the admin socket of the node serving on --data, else
// (no node runs) the file itself, which a node must have made.
func openRegistryLedger(cmd *cobra.Command, region string) (ledger.Ledger, error) {
	if !validRegion(region) {
		return nil, fmt.Errorf("--region %q: want a GB/T 2260 province-level code such as 310000", region)
	}
	embeddedMode := ledgerMode(cmd.Flags()) == "embedded"
	if embeddedMode {
		if s, ok := dialAdminSocket(dataDir(cmd), chaincode.RegionMSP(region)); ok {
			return s, nil
		}
		if err := needEmbeddedLedger(cmd); err != nil {
			return nil, err
		}
	}
	l, _, err := openLedger(cmd, nil, dataDir(cmd), region)
	if err != nil && embeddedMode {
		return nil, fmt.Errorf("%w (is a node serving on --data without its admin socket?)", err)
	}
	return l, err
}
