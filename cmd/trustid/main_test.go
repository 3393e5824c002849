package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/trustid-cn/trustid/internal/testnode"
	"github.com/trustid-cn/trustid/keystore"
)

// syncBuffer collects a command's output, safe for the server goroutine
// and the test.
type syncBuffer = testnode.Buffer

// run executes the CLI with args and returns stdout, stderr and the error.
func run(t *testing.T, ctx context.Context, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut syncBuffer
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errOut)
	err := root.ExecuteContext(ctx)
	return out.String(), errOut.String(), err
}

// serveMain runs the CLI in-process for testnode.Start.
func serveMain(ctx context.Context, args []string, stderr io.Writer) error {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetErr(stderr)
	root.SetOut(io.Discard)
	return root.ExecuteContext(ctx)
}

// startServe runs `trustid serve` on a free port until the test ends and
// returns its base URL and log buffer.
func startServe(t *testing.T, args ...string) (string, *syncBuffer) {
	t.Helper()
	n := testnode.Start(t, serveMain, args...)
	return n.Base, n.Logs
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServeEmbeddedDefaults(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("TRUSTID_KEK", "")
	base, logs := startServe(t)
	if code, body := get(t, base+"/healthz"); code != 200 || !strings.Contains(body, "ok") {
		t.Errorf("healthz %d %s", code, body)
	}
	if code, body := get(t, base+"/readyz"); code != 200 || !strings.Contains(body, `"store":"ok"`) {
		t.Errorf("readyz %d %s", code, body)
	}
	if code, body := get(t, base+"/metrics"); code != 200 || !strings.Contains(body, "trustid_http_requests_total") ||
		!strings.Contains(body, "\ntrustid_status_lists ") || !strings.Contains(body, "\ntrustid_status_list_bytes ") {
		t.Errorf("metrics %d", code)
	}
	for _, f := range []string{keystoreFile, devKEKFile} {
		if _, err := os.Stat(filepath.Join(dir, "data", f)); err != nil {
			t.Errorf("data/%s: %v", f, err)
		}
	}
	if !strings.Contains(logs.String(), "development key-encryption key") {
		t.Error("no warning about the development KEK")
	}
}

// TestServeWrongKEKSaysWhatToDo: a node started with a KEK that did not
// seal its keystore says which KEK it tried (TRUSTID_KEK or the
// development KEK file), names both by KEK ID only, and says what to set;
// it changes nothing, and makes no development KEK for a keystore sealed
// under TRUSTID_KEK.
func TestServeWrongKEKSaysWhatToDo(t *testing.T) {
	const kekA, kekB = "00112233445566778899aabbccddeeff", "ffeeddccbbaa99887766554433221100"
	envDir, devDir := t.TempDir(), t.TempDir()
	t.Setenv("TRUSTID_KEK", kekA)
	mustRun(t, "keys", "list", "--data", envDir)
	t.Setenv("TRUSTID_KEK", "")
	mustRun(t, "keys", "list", "--data", devDir)
	devKEK, err := os.ReadFile(filepath.Join(devDir, devKEKFile))
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{kekA, kekB, strings.TrimSpace(string(devKEK))}
	for _, tc := range []struct {
		name, dir, env string
		want           []string
	}{
		{"TRUSTID_KEK wrong", envDir, kekB, []string{"TRUSTID_KEK has KEK ID", "Set TRUSTID_KEK", "--data"}},
		{"TRUSTID_KEK unset, no development KEK", envDir, "", []string{"TRUSTID_KEK is not set", devKEKFile, "Set TRUSTID_KEK"}},
		{"TRUSTID_KEK set, sealed by the development KEK", devDir, kekB, []string{"sealed under the development KEK", devKEKFile, "Unset TRUSTID_KEK"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("TRUSTID_KEK", tc.env)
			path := filepath.Join(tc.dir, keystoreFile)
			before, _ := os.ReadFile(path)
			_, _, err := run(t, context.Background(), "serve", "--data", tc.dir, "--addr", "127.0.0.1:0")
			if !errors.Is(err, keystore.ErrWrongKEK) {
				t.Fatalf("serve: %v, want keystore.ErrWrongKEK", err)
			}
			msg := err.Error()
			for _, w := range append(tc.want, path, "KEK ID") {
				if !strings.Contains(msg, w) {
					t.Errorf("the error does not say %q: %s", w, msg)
				}
			}
			for _, s := range secrets {
				if strings.Contains(strings.ToLower(msg), s) {
					t.Errorf("the error prints a KEK: %s", msg)
				}
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
				t.Error("keystore changed after a failed start")
			}
		})
	}
	if _, err := os.Stat(filepath.Join(envDir, devKEKFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a development KEK was made beside a keystore sealed under TRUSTID_KEK: %v", err)
	}
	// The development KEK file replaced by another: the node names the file.
	os.WriteFile(filepath.Join(devDir, devKEKFile), []byte(kekB+"\n"), 0o600)
	t.Setenv("TRUSTID_KEK", "")
	_, _, err = run(t, context.Background(), "serve", "--data", devDir, "--addr", "127.0.0.1:0")
	if !errors.Is(err, keystore.ErrWrongKEK) || !strings.Contains(err.Error(), "the development KEK in "+filepath.Join(devDir, devKEKFile)) || !strings.Contains(err.Error(), "Set TRUSTID_KEK") || strings.Contains(err.Error(), kekB) {
		t.Errorf("serve with another development KEK: %v", err)
	}
}

func TestServeRefusesWrongKEK(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TRUSTID_KEK", "00112233445566778899aabbccddeeff")
	if _, _, err := run(t, context.Background(), "keys", "list", "--data", dir); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, keystoreFile)
	before, _ := os.ReadFile(path)
	t.Setenv("TRUSTID_KEK", "ffeeddccbbaa99887766554433221100")
	_, _, err := run(t, context.Background(), "serve", "--data", dir, "--addr", "127.0.0.1:0")
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "TRUSTID_KEK") {
		t.Fatalf("serve with the wrong KEK: %v", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("keystore changed after a failed start")
	}
	os.WriteFile(path, []byte("{broken"), 0o600)
	t.Setenv("TRUSTID_KEK", "00112233445566778899aabbccddeeff")
	_, _, err = run(t, context.Background(), "serve", "--data", dir, "--addr", "127.0.0.1:0")
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "corrupted") {
		t.Fatalf("serve with a broken keystore: %v", err)
	}
	if after, _ := os.ReadFile(path); string(after) != "{broken" {
		t.Error("broken keystore was overwritten")
	}
}

func TestKeysRotate(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TRUSTID_KEK", "00112233445566778899aabbccddeeff")
	ctx := context.Background()
	if _, _, err := run(t, ctx, "keys", "rotate", "SM2", "--data", dir); err != nil {
		t.Fatal(err)
	}
	out, _, err := run(t, ctx, "keys", "list", "--data", dir)
	if err != nil {
		t.Fatal(err)
	}
	// Count the ALG column, not substrings: a random kid may contain "SM2".
	sm2, retiring := 0, 0
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[1] == "SM2" {
			sm2++
			if f[2] == "retiring" {
				retiring++
			}
		}
	}
	if sm2 != 2 || retiring != 1 {
		t.Errorf("after rotate:\n%s", out)
	}
	if _, _, err := run(t, ctx, "keys", "rotate", "RS256", "--data", dir); err == nil {
		t.Error("rotate of an unknown algorithm succeeded")
	}
}

// TestConfigPrecedence: flag > TRUSTID_* environment > config file > default.
func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "trustid.yaml")
	os.WriteFile(cfg, []byte("region: \"320000\"\nshutdown-timeout: 3s\nlog-level: debug\n"), 0o600)
	t.Setenv("TRUSTID_KEK", "00112233445566778899aabbccddeeff")
	t.Setenv("TRUSTID_LOG_LEVEL", "warn")

	check := func(args []string, want map[string]string) {
		t.Helper()
		root := newRootCmd()
		cmd, _, err := root.Find([]string{"serve"})
		if err != nil {
			t.Fatal(err)
		}
		cmd.RunE = func(c *cobra.Command, _ []string) error {
			for k, v := range want {
				if got := c.Flags().Lookup(k).Value.String(); got != v {
					t.Errorf("%v: %s = %q, want %q", args, k, got, v)
				}
			}
			return nil
		}
		root.SetArgs(append([]string{"serve"}, args...))
		if err := root.Execute(); err != nil {
			t.Fatal(err)
		}
	}
	check([]string{"--config", cfg}, map[string]string{"region": "320000", "shutdown-timeout": "3s", "log-level": "warn", "addr": "127.0.0.1:8080"})
	check([]string{"--config", cfg, "--region", "110000", "--log-level", "error"}, map[string]string{"region": "110000", "log-level": "error"})
	t.Setenv("TRUSTID_CONFIG", cfg)
	t.Setenv("TRUSTID_REGION", "440000")
	check(nil, map[string]string{"region": "440000", "shutdown-timeout": "3s"})

	os.WriteFile(cfg, []byte("regoin: \"320000\"\n"), 0o600)
	root := newRootCmd()
	root.SetArgs([]string{"keys", "list", "--config", cfg, "--data", dir})
	root.SetErr(io.Discard)
	if err := root.Execute(); err == nil || !strings.Contains(err.Error(), "regoin") {
		t.Errorf("unknown config key: %v", err)
	}
}

// TestConfigFileValues: a config file's values reach the flags as written
// (a list as repeated flags, a float as typed), an empty file sets
// nothing, and a null, a mapping or a list for a one-value flag is
// refused naming the key, never stringified into the flag ("<nil>",
// "map[...]", "[a b]").
func TestConfigFileValues(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "trustid.yaml")
	serveFlags := func(yaml string) (*cobra.Command, error) {
		t.Helper()
		if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		root := newRootCmd()
		cmd, _, err := root.Find([]string{"serve"})
		if err != nil {
			t.Fatal(err)
		}
		var got *cobra.Command
		cmd.RunE = func(c *cobra.Command, _ []string) error { got = c; return nil }
		root.SetArgs([]string{"serve", "--config", cfg})
		root.SetErr(io.Discard)
		return got, root.Execute()
	}
	c, err := serveFlags("controller-document-hosts: [a.example, b.example]\npeer-internal-host:\n  - c.example\n  - d.example\nissuer: \"\"\ngc-heap-floor-mib: 1000000\n")
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"controller-document-hosts": "[a.example,b.example]", "peer-internal-host": "[c.example,d.example]", "issuer": "", "gc-heap-floor-mib": "1000000"} {
		if got := c.Flags().Lookup(k).Value.String(); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if _, err := serveFlags("# every setting left at its default\n"); err != nil {
		t.Errorf("a config file of comments only: %v", err)
	}
	for _, bad := range []string{"issuer:\n", "issuer: ~\n", "redis-url: {host: x}\n", "region: [\"320000\"]\n", "peer-internal-host: [a.example, ~]\n"} {
		key, _, _ := strings.Cut(bad, ":")
		c, err := serveFlags(bad)
		if err == nil {
			t.Errorf("%q: accepted, %s = %q", bad, key, c.Flags().Lookup(key).Value.String())
		} else if !strings.Contains(err.Error(), key) {
			t.Errorf("%q: error does not name %s: %v", bad, key, err)
		}
	}
}

// TestServeBadFlagValues: a rate limit, a duration out of its range, an
// unknown ledger, a malformed issuer, instance ID, node ID or Redis URL, a controller
// document host with a port, a missing wallet providers file, a malformed
// peer or one over plain http to another host, a missing Fabric profile,
// a Fabric peer that is not host:port or a ledger file in a missing
// directory, from the command line, TRUSTID_* or the config file, stops serve with
// an error naming the flag before it writes anything (the data directory
// is not even made).
func TestServeBadFlagValues(t *testing.T) {
	t.Setenv("TRUSTID_KEK", "00112233445566778899aabbccddeeff")
	for _, c := range [][2]string{
		{"token-rate-addr", "lots"}, {"token-rate-client", "5/0s"}, {"enroll-rate-addr", "x"},
		{"enroll-rate-client", "1/"}, {"pin-rate-addr", "-1/1m"}, {"login-rate-addr", "bogus"},
		{"demo-rate-addr", "30"}, {"oid4vp-rate-client", "10/0s"}, {"oid4vci-offer-rate-client", "many"}, {"issue-rate-client", "5/"}, {"status-rate-client", "0/1m"}, {"qr-forward-rate-client", "7/"}, {"qr-forward-rate-region", "x/1m"}, {"qr-forward-rate-floor", "1/0s"}, {"access-token-ttl", "10s"}, {"binding-ttl", "1m"}, {"binding-ttl", "23h"}, {"qr-ttl", "-1s"},
		{"login-session-ttl", "1h"}, {"login-code-ttl", "0s"}, {"ledger-stall-limit", "0s"},
		{"audit-anchor-interval", "10ms"}, {"ledger", "bogus"}, {"instance", "BAD!"},
		{"redis-url", "foo://127.0.0.1:1"}, {"controller-document-hosts", "a.example:443"},
		{"wallet-providers", "/nonexistent/providers.json"}, {"anchor-max-batch", "60000"},
		{"anchor-max-batch", "-1"}, {"anchor-window", "-1s"}, {"issuer", "sh.trustid.example"},
		{"issuer", "https://sh.trustid.example/?x=1"}, {"node-id", "bad id!"}, {"peer", "bogus"},
		{"peer", "320000=http://js.trustid.example"}, {"fabric-profile", "/nonexistent/profile.yaml"},
		{"fabric-peer", "grpcs://peer0.example:7051"}, {"ledger-file", "/nonexistent/ledger.db"},
	} {
		name, val := c[0], c[1]
		cfg := filepath.Join(t.TempDir(), "trustid.yaml")
		if err := os.WriteFile(cfg, []byte(name+": \""+val+"\"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, how := range []string{"flag", "env", "config"} {
			data := filepath.Join(t.TempDir(), "data")
			args := []string{"serve", "--data", data, "--addr", "127.0.0.1:0"}
			switch how {
			case "flag":
				args = append(args, "--"+name+"="+val)
			case "env":
				t.Setenv(envName(name), val)
			case "config":
				args = append(args, "--config", cfg)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			_, _, err := run(t, ctx, args...)
			cancel()
			if how == "env" {
				os.Unsetenv(envName(name))
			}
			if err == nil || !strings.Contains(err.Error(), "--"+name) {
				t.Errorf("--%s %q by %s: %v", name, val, how, err)
			}
			if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("--%s %q by %s: the data directory was written (%v)", name, val, how, err)
			}
		}
	}
}

// TestConfigFileSharedByCommands: one config file serves `trustid serve`
// and the operator commands (TRUSTID_CONFIG in the node's environment):
// a command takes the keys that are its flags and leaves the others'
// (addr, redis-url to serve); a key no command has is refused.
func TestConfigFileSharedByCommands(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "trustid.yaml")
	os.WriteFile(cfg, []byte("addr: 0.0.0.0:8080\nregion: \"310000\"\nredis-url: redis://127.0.0.1:6379/0\nfabric-chaincode: trustid\ndata: "+data+"\n"), 0o600)
	t.Setenv("TRUSTID_KEK", "00112233445566778899aabbccddeeff")
	t.Setenv("TRUSTID_CONFIG", cfg)
	if _, errOut, err := run(t, t.Context(), "keys", "list"); err != nil {
		t.Fatalf("keys list with the node's config file: %v\n%s", err, errOut)
	}
	if _, err := os.Stat(filepath.Join(data, keystoreFile)); err != nil {
		t.Errorf("keys list did not take data from the config file: %v", err)
	}
	os.WriteFile(cfg, []byte("adr: 0.0.0.0:8080\n"), 0o600)
	if _, _, err := run(t, t.Context(), "keys", "list", "--data", data); err == nil || !strings.Contains(err.Error(), `"adr"`) {
		t.Errorf("a key no command has: %v", err)
	}
}

// TestConfigEnvLists: the variable of a repeatable flag takes a
// comma-separated list, as a list flag's does (it gave one entry,
// "a.example,b.example", matching no host).
func TestConfigEnvLists(t *testing.T) {
	t.Setenv("TRUSTID_PEER_INTERNAL_HOST", "a.example,b.example")
	t.Setenv("TRUSTID_CONTROLLER_DOCUMENT_HOSTS", "c.example,d.example")
	root := newRootCmd()
	cmd, _, err := root.Find([]string{"serve"})
	if err != nil {
		t.Fatal(err)
	}
	cmd.RunE = func(c *cobra.Command, _ []string) error {
		if got, _ := c.Flags().GetStringArray("peer-internal-host"); strings.Join(got, " ") != "a.example b.example" {
			t.Errorf("peer-internal-host = %q", got)
		}
		if got, _ := c.Flags().GetStringSlice("controller-document-hosts"); strings.Join(got, " ") != "c.example d.example" {
			t.Errorf("controller-document-hosts = %q", got)
		}
		return nil
	}
	root.SetArgs([]string{"serve"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
}

func TestServeRejectsBadRegion(t *testing.T) {
	t.Setenv("TRUSTID_KEK", "00112233445566778899aabbccddeeff")
	_, _, err := run(t, context.Background(), "serve", "--data", t.TempDir(), "--region", "999999")
	if err == nil || !strings.Contains(err.Error(), "--region") {
		t.Fatalf("bad region: %v", err)
	}
}

func TestServeRejectsBadHeapFloor(t *testing.T) {
	t.Setenv("TRUSTID_KEK", "00112233445566778899aabbccddeeff")
	for _, v := range []string{"-1", "1048577"} {
		_, _, err := run(t, context.Background(), "serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0", "--gc-heap-floor-mib", v)
		if err == nil || !strings.Contains(err.Error(), "--gc-heap-floor-mib") {
			t.Errorf("--gc-heap-floor-mib %s: %v", v, err)
		}
	}
}

// TestBadValuesNameTheirSource: a bad value of a setting serve checks by
// itself, given by TRUSTID_* or the config file, stops serve with a usage
// error naming the flag and where the value came from (README,
// "Configuration"): an operator who did not type it finds it.
func TestBadValuesNameTheirSource(t *testing.T) {
	t.Setenv("TRUSTID_KEK", "00112233445566778899aabbccddeeff")
	for _, c := range [][2]string{
		{"log-level", "verbose"}, {"log-format", "xml"}, {"region", "999999"},
		{"gc-heap-floor-mib", "-1"}, {"trusted-proxies", "0.0.0.0/0"}, {"access-log-flush", "-1s"},
		{"redis-url", "foo://127.0.0.1:1"}, {"wallet-providers", "/nonexistent/providers.json"}, {"peer", "bogus"},
		{"fabric-profile", "/nonexistent/profile.yaml"}, {"fabric-peer", "grpcs://peer0.example:7051"},
		{"ledger-file", "/nonexistent/ledger.db"}, {"controller-document-hosts", "a.example:443"}, {"ledger", "bogus"},
		{"instance", "BAD!"}, {"node-id", "bad id!"}, {"issuer", "sh.trustid.example"},
	} {
		name, val := c[0], c[1]
		cfg := filepath.Join(t.TempDir(), "trustid.yaml")
		if err := os.WriteFile(cfg, []byte(name+": \""+val+"\"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, how := range []string{"env", "config"} {
			data := filepath.Join(t.TempDir(), "data")
			args := []string{"serve", "--data", data, "--addr", "127.0.0.1:0"}
			source := envName(name)
			if how == "env" {
				t.Setenv(source, val)
			} else {
				args, source = append(args, "--config", cfg), cfg+": "+name
			}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			_, _, err := run(t, ctx, args...)
			cancel()
			if how == "env" {
				os.Unsetenv(source)
			}
			if err == nil || !strings.Contains(err.Error(), "--"+name) || !strings.Contains(err.Error(), source) {
				t.Errorf("--%s %q by %s: want an error naming --%s and %s, got %v", name, val, how, name, source, err)
			}
			if code := errorCode(err); code != "usage" {
				t.Errorf("--%s %q by %s: -o json code %q, want usage", name, val, how, code)
			}
			if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("--%s %q by %s: the data directory was written (%v)", name, val, how, err)
			}
		}
	}
	// --output, checked before any command runs.
	cfg := filepath.Join(t.TempDir(), "trustid.yaml")
	if err := os.WriteFile(cfg, []byte("output: yaml\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(t.TempDir(), "data")
	t.Setenv("TRUSTID_OUTPUT", "yaml")
	if _, _, err := run(t, t.Context(), "keys", "list", "--data", data); err == nil || !strings.Contains(err.Error(), "TRUSTID_OUTPUT: --output") {
		t.Errorf("--output by env: %v", err)
	}
	os.Unsetenv("TRUSTID_OUTPUT")
	if _, _, err := run(t, t.Context(), "keys", "list", "--data", data, "--config", cfg); err == nil || !strings.Contains(err.Error(), cfg+": output: --output") {
		t.Errorf("--output by config: %v", err)
	}
	if _, _, err := run(t, t.Context(), "keys", "list", "--data", data, "-o", "yaml"); err == nil || strings.Contains(err.Error(), "TRUSTID_OUTPUT") {
		t.Errorf("--output on the command line: %v", err)
	}
}
