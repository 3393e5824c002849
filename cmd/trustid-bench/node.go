package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/identity"
)

// The relying party and terminal the run registers, and the node's region.
const (
	clientID = "bench-rp"
	// loginClientID is the website that logs people in (OpenID Connect,
	// client_secret_basic), at loginRedirect, with a sector of its own
	// (a sector belongs to one relying party).
	loginClientID = "bench-web"
	loginRedirect = "http://127.0.0.1:9/callback"
	// rsClientID is a resource server that checks access tokens at the
	// node's introspection endpoint (RFC 7662) with client_secret_basic,
	// as docs/relying-party.md §7 shows: it introspects the tokens issued
	// to itself.
	rsClientID = "bench-rs"
	terminalID = "t-bench"
	region     = "310000"
	// sector is the relying party's sector for pairwise IDs.
	sector = "bench.example"
)

// raisedLimit is what the config file sets the rate limits that
// `trustid serve` lets an operator configure to: the limiter still
// counts every request, but a load test from one client never reaches it.
const raisedLimit = "100000000/1m"

// serveConfig is the config file the node runs with: embedded defaults
// except the configurable rate limits, which are raised. The limits of
// POST /credentials/verify (300/min) and POST /v1/qr (120/min) per source
// address have no setting; the load respects them from many loopback
// addresses instead (see conn).
var serveConfig = strings.Join([]string{
	"token-rate-addr: " + raisedLimit,
	"token-rate-client: " + raisedLimit,
	"enroll-rate-addr: " + raisedLimit,
	"enroll-rate-client: " + raisedLimit,
	"login-rate-addr: " + raisedLimit,
	"oid4vp-rate-client: " + raisedLimit,
	"oid4vci-offer-rate-client: " + raisedLimit,
	"issue-rate-client: " + raisedLimit,
	"status-rate-client: " + raisedLimit,
	"qr-forward-rate-client: " + raisedLimit,
	"qr-forward-rate-region: " + raisedLimit,
}, "\n") + "\n"

// node is a running `trustid serve` process and what was provisioned on it.
type node struct {
	bin, dir, data string
	config         string // the config file's content
	env            []string
	// serveEnv is added to env for `trustid serve` only (not the CLI).
	serveEnv []string
	cmd      *exec.Cmd
	exited   chan error
	logPath  string
	base     string // http://127.0.0.1:PORT
	// addr is where start listens; empty: a loopback port the node binds
	// and logs (port 0). A restart reuses the first start's address
	// (credentials name the node's URL).
	addr string
	// pprofAddr is where the node's pprof listener bound (a trustid built
	// with -tags benchpprof, given TRUSTID_PPROF_ADDR): from its log.
	pprofAddr string
	args      []string // more `trustid serve` flags
	pid       string
	clientKey *gm.PrivateKey
	kid       string
	terminal  *identity.Attester
	// loginSecret is the login client's secret; rsSecret the resource
	// server's.
	loginSecret, rsSecret string
}

// pprofListening begins the line a trustid built with -tags benchpprof
// prints on stderr with the address its pprof listener bound
// (cmd/trustid/pprof_benchpprof.go).
const pprofListening = "trustid: pprof listening on "

// buildTrustID builds cmd/trustid into dir with the go command (the run
// must be inside the module).
func buildTrustID(ctx context.Context, dir string) (string, error) {
	out := filepath.Join(dir, "trustid")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "github.com/trustid-cn/trustid/cmd/trustid")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build cmd/trustid: %v\n%s", err, b)
	}
	return out, nil
}

// childEnv is this process's environment without TRUSTID_* settings (they
// would change the node's configuration) and with a fresh KEK.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TRUSTID_") {
			env = append(env, kv)
		}
	}
	kek := make([]byte, 16)
	rand.Read(kek)
	return append(env, "TRUSTID_KEK="+hex.EncodeToString(kek))
}

// cli runs a trustid subcommand on the node's data directory.
func (n *node) cli(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, n.bin, append(args, "--data", n.data)...)
	cmd.Env = n.env
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("trustid %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errOut.String())
	}
	return out.String(), nil
}

// provision registers, through the CLI, the relying party (an SM2 key made
// by `trustid clients keygen`, every scope the run uses (registry:admin
// to accredit itself as an issuer, as an operator would), the age_over_18
// claim and a sector), a website that logs people in (authorization_code,
// a client secret), a resource server that introspects tokens
// (client_credentials, a client secret) and a verification terminal whose
// key this process holds, as a counter terminal would.
func (n *node) provision(ctx context.Context) error {
	keys := filepath.Join(n.dir, "rp")
	out, err := n.cli(ctx, "clients", "keygen", "--alg", gm.AlgSM2, "--out", keys)
	if err != nil {
		return err
	}
	m := regexp.MustCompile(`(?m)^kid (\S+)$`).FindStringSubmatch(out)
	if m == nil {
		return fmt.Errorf("clients keygen printed no kid: %q", out)
	}
	n.kid = m[1]
	scopes := strings.Join([]string{auth.ScopeCredentialsIssue, auth.ScopeStatusWrite, auth.ScopeQRRedeem, auth.ScopeEnroll, auth.ScopeRegistryAdmin, auth.ScopePresentationRequest}, ",")
	if _, err := n.cli(ctx, "clients", "add", "--id", clientID, "--name", "trustid-bench", "--region", region,
		"--scopes", scopes, "--claims", "age_over_18", "--sector", sector,
		"--jwks-file", filepath.Join(keys, n.kid+".jwks.json")); err != nil {
		return err
	}
	out, err = n.cli(ctx, "clients", "add", "--id", loginClientID, "--name", "trustid-bench web", "--region", region,
		"--scopes", auth.ScopeQRRedeem, "--grant-types", "authorization_code", "--redirect-uri", loginRedirect,
		"--claims", "age_over_18", "--sector", "web."+sector, "--secret")
	if err != nil {
		return err
	}
	if n.loginSecret, err = clientSecret(out); err != nil {
		return err
	}
	out, err = n.cli(ctx, "clients", "add", "--id", rsClientID, "--name", "trustid-bench resource server", "--region", region,
		"--scopes", auth.ScopeQRRedeem, "--secret")
	if err != nil {
		return err
	}
	if n.rsSecret, err = clientSecret(out); err != nil {
		return err
	}
	pemBytes, err := os.ReadFile(filepath.Join(keys, n.kid+".key.pem"))
	if err != nil {
		return err
	}
	signer, err := gm.ParsePrivateKeyPEM(pemBytes)
	if err != nil {
		return err
	}
	var ok bool
	if n.clientKey, ok = signer.(*gm.PrivateKey); !ok {
		return errors.New("clients keygen --alg SM2 made no SM2 key")
	}

	tk, err := gm.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	pub, err := gm.MarshalPublicKeyPEM(tk.Public())
	if err != nil {
		return err
	}
	pubFile := filepath.Join(n.dir, "terminal.pub.pem")
	if err := os.WriteFile(pubFile, pub, 0o600); err != nil {
		return err
	}
	if _, err := n.cli(ctx, "terminals", "add", "--id", terminalID, "--name", "trustid-bench counter",
		"--region", "310104", "--public-key", pubFile); err != nil {
		return err
	}
	n.terminal = &identity.Attester{TerminalID: terminalID, Signer: tk, Audience: n.base}
	return nil
}

// clientSecret finds the secret `trustid clients add --secret` printed.
func clientSecret(out string) (string, error) {
	m := regexp.MustCompile(`"client_secret":\s*"([^"]+)"`).FindStringSubmatch(out)
	if m == nil {
		return "", errors.New("clients add --secret printed no client_secret")
	}
	return m[1], nil
}

// waitRegion waits (up to a minute) until the node's region is active on
// its ledger, as `trustid ledger regions` reads it.
func (n *node) waitRegion(ctx context.Context) error {
	deadline := time.Now().Add(time.Minute)
	for {
		out, err := n.cli(ctx, "ledger", "regions", "--region", region)
		var regions []struct{ Code, Status string }
		if err == nil {
			err = json.Unmarshal([]byte(out), &regions)
		}
		if err == nil && slices.ContainsFunc(regions, func(r struct{ Code, Status string }) bool { return r.Code == region && r.Status == "active" }) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("region %s not active on the ledger after a minute: %v", region, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// start runs `trustid serve` on addr (or a loopback port it picks and
// logs: the address is read from its log) with the config file
// and waits until it answers /readyz. Its log (the access log included)
// goes to serve.log in the run directory.
func (n *node) start(ctx context.Context) error {
	cfg := filepath.Join(n.dir, "serve.yaml")
	if err := os.WriteFile(cfg, []byte(n.config), 0o600); err != nil {
		return err
	}
	n.logPath = filepath.Join(n.dir, "serve.log")
	logFile, err := os.Create(n.logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	addr := n.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	n.cmd = exec.Command(n.bin, append([]string{"serve", "--data", n.data, "--addr", addr, "--config", cfg}, n.args...)...)
	n.cmd.Env = append(slices.Clone(n.env), n.serveEnv...)
	n.cmd.Stdout, n.cmd.Stderr = logFile, logFile
	dieWithParent(n.cmd)
	if err := n.cmd.Start(); err != nil {
		return err
	}
	n.pid = strconv.Itoa(n.cmd.Process.Pid)
	n.exited = make(chan error, 1)
	go func() { n.exited <- n.cmd.Wait() }()

	serving := regexp.MustCompile(`msg=serving .*addr=(127\.0\.0\.1:\d+)`)
	pprof := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(pprofListening) + `(127\.0\.0\.1:\d+)$`)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		select {
		case err := <-n.exited:
			n.exited <- err
			return fmt.Errorf("trustid serve exited: %v\n%s", err, n.logTail())
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("trustid serve did not start in 30 s\n%s", n.logTail())
		}
		b, _ := os.ReadFile(n.logPath)
		if m := serving.FindSubmatch(b); m != nil {
			n.base, n.addr = "http://"+string(m[1]), string(m[1])
			n.pprofAddr = ""
			if m := pprof.FindSubmatch(b); m != nil {
				n.pprofAddr = string(m[1]) // printed before serving
			}
			break
		}
	}
	if n.terminal != nil {
		n.terminal.Audience = n.base
	}
	// Ready within 30 s (on Fabric the ledger view loads first).
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get(n.base + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("/readyz: %s\n%s", resp.Status, n.logTail())
		}
	}
}

// stop asks the node to shut down (SIGTERM: drain, flush the outbox) and
// waits; after 30 s it kills it.
func (n *node) stop() error {
	if n.cmd == nil || n.cmd.Process == nil {
		return nil
	}
	n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-n.exited:
		return err
	case <-time.After(30 * time.Second):
		n.cmd.Process.Kill()
		<-n.exited
		return errors.New("trustid serve did not stop within 30 s of SIGTERM; killed")
	}
}

// logTail is the end of the node's log, for error messages.
func (n *node) logTail() string {
	b, _ := os.ReadFile(n.logPath)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// logCounts counts the node's access-log lines (msg=http) and its
// error-level lines.
func (n *node) logCounts() (access, errorLines int, err error) {
	f, err := os.Open(n.logPath)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, " msg=http ") {
			access++
		}
		if strings.Contains(line, " level=ERROR ") {
			errorLines++
		}
	}
	return access, errorLines, sc.Err()
}
