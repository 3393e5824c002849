package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/ledger"
)

// cliExec runs the CLI as main does (execute) with stdin, and returns
// stdout, stderr and the exit status.
func cliExec(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRootCmd()
	root.SetIn(strings.NewReader(stdin))
	code := execute(root, args, &out, &errOut)
	return out.String(), errOut.String(), code
}

// decodeOne decodes out, which must be exactly one JSON value, into v;
// strict refuses members v does not name (the documented shape).
func decodeOne(t *testing.T, what, out string, v any, strict bool) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(out))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: not its documented JSON: %v\n%s", what, err, out)
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Fatalf("%s: more than one JSON value on stdout:\n%s", what, out)
	}
}

// runnableCommands lists the commands of the tree a user runs, less the
// help and completion commands cobra adds.
func runnableCommands(root *cobra.Command) []*cobra.Command {
	var out []*cobra.Command
	walkCommands(root, func(c *cobra.Command) {
		first, _, _ := strings.Cut(commandKey(c), " ")
		if c.Runnable() && !c.Hidden && c != root && first != "help" && first != "completion" {
			out = append(out, c)
		}
	})
	return out
}

// exampleCommandLines returns the trustid command lines of an example: the
// words after "trustid" to the end of the shell command (a pipe,
// redirection, ";", "&&" or a comment), with "\" line ends joined.
func exampleCommandLines(example string) ([][]string, error) {
	var out [][]string
	for _, line := range strings.Split(strings.ReplaceAll(example, "\\\n", " "), "\n") {
		words, err := shellWords(line)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", line, err)
		}
		var cur []string
		in := false
		for _, w := range append(words, ";") {
			switch {
			case slices.Contains([]string{"|", "||", ";", "&", "&&", "#"}, w) || strings.HasPrefix(w, ">") || strings.HasPrefix(w, "<") || w == "2>":
				if in {
					out = append(out, cur)
				}
				cur, in = nil, false
			case !in && (w == "trustid" || strings.HasSuffix(w, "/trustid")):
				in = true
			case in:
				cur = append(cur, w)
			}
		}
	}
	return out, nil
}

// shellWords splits a line as a POSIX shell does for the simple lines of
// examples: words, single and double quotes, operators as words of their
// own, "#" at a word's start beginning a comment.
func shellWords(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	has := false
	flush := func() {
		if has {
			words = append(words, cur.String())
		}
		cur.Reset()
		has = false
	}
	for i := 0; i < len(line); i++ {
		switch ch := line[i]; {
		case ch == ' ' || ch == '\t':
			flush()
		case ch == '\'' || ch == '"':
			j := strings.IndexByte(line[i+1:], ch)
			if j < 0 {
				return nil, errors.New("unbalanced quote")
			}
			cur.WriteString(line[i+1 : i+1+j])
			has = true
			i += j + 1
		case ch == '#' && !has:
			flush()
			return append(words, "#"), nil
		case ch == '>' && has && cur.String() == "2":
			cur.Reset()
			has = false
			words = append(words, "2>")
		case strings.IndexByte("|;&<>", ch) >= 0:
			flush()
			op := string(ch)
			if i+1 < len(line) && line[i+1] == ch && ch != ';' && ch != '<' {
				op += string(ch)
				i++
			}
			words = append(words, op)
		default:
			cur.WriteByte(ch)
			has = true
		}
	}
	flush()
	return words, nil
}

// parseExample resolves an example's command line as trustid would, and
// parses its flags and arguments without running it.
func parseExample(args []string) (string, error) {
	root := newRootCmd()
	c, rest, err := root.Find(args)
	if err != nil {
		return "", err
	}
	if !c.Runnable() {
		return "", fmt.Errorf("%q is not a command that runs", c.CommandPath())
	}
	if err := c.ParseFlags(rest); err != nil {
		return "", err
	}
	if err := c.ValidateArgs(c.Flags().Args()); err != nil {
		return "", err
	}
	if err := checkOutput(c); err != nil {
		return "", err
	}
	return commandKey(c), nil
}

// TestCLIExamples: every command a user runs has an Example in its help,
// one of its lines runs that command, and every trustid command line in
// any example names a real command with flags it has, valid flag values
// and the arguments it takes.
func TestCLIExamples(t *testing.T) {
	root := newRootCmd()
	cmds := runnableCommands(root)
	if len(cmds) < 35 {
		t.Fatalf("only %d runnable commands found", len(cmds))
	}
	for _, c := range cmds {
		key := commandKey(c)
		if strings.TrimSpace(c.Example) == "" {
			t.Errorf("trustid %s has no Example (add it to commandExamples in cli.go)", key)
			continue
		}
		lines, err := exampleCommandLines(c.Example)
		if err != nil {
			t.Errorf("trustid %s: %v", key, err)
			continue
		}
		self := false
		for _, args := range lines {
			got, err := parseExample(args)
			if err != nil {
				t.Errorf("trustid %s: example `trustid %s`: %v", key, strings.Join(args, " "), err)
				continue
			}
			self = self || got == key
		}
		if !self {
			t.Errorf("trustid %s: no line of its Example runs it:\n%s", key, c.Example)
		}
	}
	// No entry for a command that does not exist (renamed, removed).
	for _, m := range []map[string]string{commandExamples, outputCommands} {
		for key := range m {
			c, _, err := root.Find(strings.Fields(key))
			if err != nil || commandKey(c) != key {
				t.Errorf("%q names no command", key)
			}
		}
	}
}

func TestShellWords(t *testing.T) {
	got, err := exampleCommandLines(`  TRUSTID_ACCESS_TOKEN=$T trustid vc issue "a b.json" --raw > out.txt 2>&1 # note
  echo x | bin/trustid id derive - && trustid keys list -o json | jq .`)
	want := [][]string{{"vc", "issue", "a b.json", "--raw"}, {"id", "derive", "-"}, {"keys", "list", "-o", "json"}}
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %q, %v; want %q", got, err, want)
	}
	if _, err := parseExample([]string{"keys", "list", "--fabric-profile", "x"}); err == nil {
		t.Error("a flag the command lacks passed")
	}
	if _, err := parseExample([]string{"keys", "retire"}); err == nil {
		t.Error("a missing argument passed")
	}
	if _, err := parseExample([]string{"keys", "list", "-o", "yaml"}); err == nil {
		t.Error("an unknown --output passed")
	}
}

// TestCLIHelpFlags: a command's help shows the flags it uses; the ledger
// settings are in their own section, and only where the command reaches
// the ledger; the node's anchoring settings only on serve.
func TestCLIHelpFlags(t *testing.T) {
	// pflag takes backquoted usage text as the value's name
	// ("--holder-key trustid vc keygen"): quote commands otherwise.
	for _, c := range runnableCommands(newRootCmd()) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if name, _ := pflag.UnquoteUsage(f); strings.ContainsAny(name, " -") {
				t.Errorf("trustid %s --%s: value name %q from backquotes in its usage", commandKey(c), f.Name, name)
			}
		})
	}
	help := func(args ...string) string {
		t.Helper()
		out, errOut, code := cliExec(t, "", append(args, "--help")...)
		if code != 0 {
			t.Fatalf("%v --help: %d %s", args, code, errOut)
		}
		return out
	}
	section := func(out, title string) string {
		_, after, ok := strings.Cut(out, "\n"+title+":\n")
		if !ok {
			return ""
		}
		before, _, _ := strings.Cut(after, "\n\n")
		return before
	}
	out := help("clients", "list")
	if s := section(out, "Ledger flags"); !strings.Contains(s, "--fabric-profile ") || !strings.Contains(s, "--ledger ") || strings.Contains(s, "--anchor-window") {
		t.Errorf("clients list: ledger flags:\n%s", out)
	}
	if s := section(out, "Flags"); !strings.Contains(s, "--region ") || !strings.Contains(s, "-o, --output ") || strings.Contains(s, "fabric") {
		t.Errorf("clients list: flags:\n%s", out)
	}
	if s := section(out, "Global Flags"); !strings.Contains(s, "--data ") || strings.Contains(s, "fabric") {
		t.Errorf("clients list: global flags:\n%s", out)
	}
	if !strings.Contains(out, "Examples:\n  trustid clients list") {
		t.Errorf("clients list: no examples:\n%s", out)
	}
	for _, args := range [][]string{{"clients", "keygen"}, {"keys", "list"}, {"id", "derive-batch"}, {"vc", "keygen"}, {"token"}} {
		out := help(args...)
		if strings.Contains(out, "Ledger flags") || strings.Contains(out, "--fabric") || strings.Contains(out, "--anchor") {
			t.Errorf("%v shows ledger flags:\n%s", args, out)
		}
	}
	if out := help("vc", "keygen"); strings.Contains(out, "--node") {
		t.Errorf("vc keygen shows --node:\n%s", out)
	}
	if out := help("vc", "verify"); !strings.Contains(section(out, "Flags"), "--node ") {
		t.Errorf("vc verify lacks --node:\n%s", out)
	}
	out = help("serve")
	if s := section(out, "Ledger flags"); !strings.Contains(s, "--anchor-window ") || !strings.Contains(s, "--fabric-peer ") {
		t.Errorf("serve: ledger flags:\n%s", out)
	}
	if s := section(out, "Flags"); !strings.Contains(s, "--addr ") || strings.Contains(s, "--output") {
		t.Errorf("serve: flags:\n%s", out)
	}
	if out := help("ledger", "audit-verify"); !strings.Contains(section(out, "Ledger flags"), "--node-id ") {
		t.Errorf("ledger audit-verify lacks --node-id:\n%s", out)
	}
	// Settings a command used to inherit are still accepted, hidden.
	dir := t.TempDir()
	t.Setenv("TRUSTID_KEK", testKEK)
	if _, errOut, code := cliExec(t, "", "clients", "keygen", "--out", dir, "--region", "310000", "--data", dir); code != 0 {
		t.Errorf("clients keygen --region: %s", errOut)
	}
}

// TestCLICompletion: the completion scripts of every shell, and the
// dynamic completions: --output values, algorithms, the retiring keys of
// the local keystore.
func TestCLICompletion(t *testing.T) {
	for shell, marker := range map[string]string{"bash": "__start_trustid", "zsh": "#compdef trustid", "fish": "complete -c trustid", "powershell": "Register-ArgumentCompleter"} {
		out, errOut, code := cliExec(t, "", "completion", shell)
		if code != 0 || !strings.Contains(out, marker) {
			t.Errorf("completion %s: %d %s\n%.200s", shell, code, errOut, out)
		}
	}
	complete := func(args ...string) []string {
		t.Helper()
		out, errOut, code := cliExec(t, "", append([]string{cobra.ShellCompNoDescRequestCmd}, args...)...)
		if code != 0 {
			t.Fatalf("complete %v: %s", args, errOut)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		return lines[:len(lines)-1] // the last is the directive
	}
	if got := complete("keys", "list", "-o", ""); !slices.Equal(got, []string{"text", "json"}) {
		t.Errorf("-o completes %q", got)
	}
	if got := complete("clients", "keygen", "--alg", ""); !slices.Equal(got, auth.AssertionAlgorithms) {
		t.Errorf("--alg completes %q", got)
	}
	dir := t.TempDir()
	// No keystore: nothing, and nothing made.
	if got := complete("keys", "retire", "--data", dir, ""); len(got) != 0 {
		t.Errorf("retire without a keystore completes %q", got)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("completion wrote %v", entries)
	}
	t.Setenv("TRUSTID_KEK", testKEK)
	out, errOut, code := cliExec(t, "", "keys", "rotate", "SM2", "--data", dir, "-o", "json")
	if code != 0 {
		t.Fatal(errOut)
	}
	var newKey keyJSON
	decodeOne(t, "keys rotate", out, &newKey, true)
	var retiring []string
	out, _, _ = cliExec(t, "", "keys", "list", "--data", dir, "-o", "json")
	var keys []keyJSON
	decodeOne(t, "keys list", out, &keys, true)
	for _, k := range keys {
		if k.State == "retiring" {
			retiring = append(retiring, k.Kid)
		}
	}
	if got := complete("keys", "retire", "--data", dir, ""); len(retiring) != 1 || !slices.Equal(got, retiring) {
		t.Errorf("retire completes %q, want %q", got, retiring)
	}
}

// TestCLIOutputErrors: an unknown --output is refused before any work;
// with -o json an error is one JSON object on stderr, nothing on stdout,
// and the exit status is kept.
func TestCLIOutputErrors(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TRUSTID_KEK", testKEK)
	out, errOut, code := cliExec(t, "", "keys", "list", "--data", dir, "-o", "yaml")
	if code == 0 || out != "" || !strings.Contains(errOut, `--output "yaml": want text or json`) {
		t.Errorf("-o yaml: %d %q %q", code, out, errOut)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("-o yaml did work first: %v", entries)
	}
	type errJSON struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	for _, tc := range []struct {
		args     []string
		code     int
		errCode  string
		inOutput string
	}{
		{[]string{"id", "validate", "110105194912310020", "-o", "json"}, exitInvalid, "check_digit_mismatch", ""},
		{[]string{"keys", "list", "--bogus", "-o", "json"}, 1, "usage", "bogus"},
		{[]string{"keys", "list", "--output=json", "extra"}, 1, "usage", "extra"},
		{[]string{"ledger", "head", "-o", "json"}, 1, "usage", "accepts 2 arg(s)"},
		{[]string{"qr", "verify", "TIDSTA1:nonsense", "--no-status", "--data", dir, "-o", "json"}, 1, "not_valid", "NOT VALID"},
		{[]string{"id", "derive-batch", "--in", os.DevNull, "-o", "json", "--data", dir}, 1, "usage", "--out FILE"},
		{[]string{"clients", "add", "--name", "x", "--secret", "--scopes", "qr:read", "-o", "json", "--data", dir}, 1, "usage", "qr:read"},
		{[]string{"wallet", "code", "--wallet", filepath.Join(dir, "none.json"), "-o", "json"}, 1, "error", "(run trustid wallet enroll --wallet " + filepath.Join(dir, "none.json") + " first"},
		// A glob that matched two key files.
		{[]string{"token", "--client-id", "rp", "--key", "a.key.pem", "b.key.pem", "-o", "json"}, 1, "usage", "--key takes one file (did a glob match several?)"},
		{[]string{"clients", "add", "--name", "x", "--jwks-file", "a.jwks.json", "b.jwks.json", "-o", "json", "--data", dir}, 1, "usage", "--jwks-file takes one file"},
		{[]string{"clients", "rotate-key", "rp", "--add-jwks-file", "a.jwks.json", "b.jwks.json", "-o", "json", "--data", dir}, 1, "usage", "--add-jwks-file takes one file"},
	} {
		out, errOut, code := cliExec(t, "", tc.args...)
		var e errJSON
		if code != tc.code || out != "" {
			t.Errorf("%v: exit %d, stdout %q; want %d and nothing", tc.args, code, out, tc.code)
		}
		// Log records (JSON with -o json) may come first; the error is
		// the last line.
		lines := strings.Split(strings.TrimSpace(errOut), "\n")
		for _, l := range lines[:len(lines)-1] {
			if !json.Valid([]byte(l)) {
				t.Errorf("%v: a stderr line is not JSON: %s", tc.args, l)
			}
		}
		decodeOne(t, fmt.Sprint(tc.args), lines[len(lines)-1], &e, true)
		if e.Error.Code != tc.errCode || !strings.Contains(e.Error.Message, tc.inOutput) {
			t.Errorf("%v: error %+v, want code %s", tc.args, e.Error, tc.errCode)
		}
	}
}

// TestCLIOutputJSONOffline runs every --output command that needs no node
// with -o json and decodes its stdout into the documented shape
// (outputCommands, docs/operations.md).
func TestCLIOutputJSONOffline(t *testing.T) {
	// A node registers its region on the ledger; stopped, the CLI opens
	// the ledger file itself.
	n := startAuthNode(t)
	n.stop()
	dir := t.TempDir()
	data := []string{"--data", n.dir}
	tested := map[string]bool{}
	jsonRun := func(v any, strict bool, stdin string, args ...string) {
		t.Helper()
		out, errOut, code := cliExec(t, stdin, withFlags(args, append([]string{"-o", "json"}, data...)...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", args, code, out, errOut)
		}
		if strings.Contains(out, "\033") {
			t.Errorf("%v: escape sequences in JSON output", args)
		}
		decodeOne(t, strings.Join(args, " "), out, v, strict)
		for n := len(args); n > 0; n-- {
			if _, ok := outputCommands[strings.Join(args[:n], " ")]; ok {
				tested[strings.Join(args[:n], " ")] = true
				break
			}
		}
	}
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}

	var keys []keyJSON
	jsonRun(&keys, true, "", "keys", "list")
	if len(keys) < 3 || keys[0].Kid == "" || keys[0].Created == "" {
		t.Errorf("keys list: %+v", keys)
	}
	var k keyJSON
	jsonRun(&k, true, "", "keys", "rotate", "SM2")
	if k.Alg != "SM2" || k.State != "active" {
		t.Errorf("keys rotate: %+v", k)
	}
	jsonRun(&keys, true, "", "keys", "list")
	var retiring string
	for _, k := range keys {
		if k.State == "retiring" {
			retiring = k.Kid
		}
	}
	// "--": a kid is base64url and may begin with "-".
	jsonRun(&k, true, "", "keys", "retire", "--", retiring)
	if k.Kid != retiring || k.State != "retired" {
		t.Errorf("keys retire: %+v", k)
	}

	var kg struct{ Kid, PrivateKey, PublicJWKS string }
	var kgStrict struct {
		Kid        string `json:"kid"`
		PrivateKey string `json:"private_key"`
		PublicJWKS string `json:"public_jwks"`
	}
	jsonRun(&kgStrict, true, "", "clients", "keygen", "--out", filepath.Join(dir, "rp"))
	kg.Kid, kg.PublicJWKS = kgStrict.Kid, kgStrict.PublicJWKS
	if _, err := os.Stat(kgStrict.PrivateKey); err != nil || kg.Kid == "" {
		t.Errorf("clients keygen: %+v %v", kgStrict, err)
	}
	var c clientView
	jsonRun(&c, false, "", "clients", "add", "--id", "rp-json", "--name", "JSON RP", "--scopes", "qr:redeem", "--jwks-file", kg.PublicJWKS)
	if c.ID != "rp-json" || c.SecretHash != "" {
		t.Errorf("clients add: %+v", c)
	}
	var cs []clientView
	jsonRun(&cs, false, "", "clients", "list")
	if len(cs) != 1 || cs[0].ID != "rp-json" || cs[0].SecretHash != "" {
		t.Errorf("clients list: %+v", cs)
	}
	jsonRun(&c, false, "", "clients", "show", "rp-json")
	if c.ID != "rp-json" || len(c.Scopes) != 1 {
		t.Errorf("clients show: %+v", c)
	}
	var sw struct {
		ClientID string `json:"client_id"`
		Disabled bool   `json:"disabled"`
	}
	jsonRun(&sw, true, "", "clients", "disable", "rp-json")
	if sw.ClientID != "rp-json" || !sw.Disabled {
		t.Errorf("clients disable: %+v", sw)
	}
	jsonRun(&sw, true, "", "clients", "enable", "rp-json")
	if sw.Disabled {
		t.Errorf("clients enable: %+v", sw)
	}
	jsonRun(&kgStrict, true, "", "clients", "keygen", "--out", filepath.Join(dir, "rp2"))
	jsonRun(&c, false, "", "clients", "rotate-key", "rp-json", "--add-jwks-file", kgStrict.PublicJWKS)
	if len(c.JWKS.Keys) != 2 {
		t.Errorf("clients rotate-key: %+v", c)
	}
	jsonRun(&c, false, "", "clients", "update", "rp-json", "--resource", "https://api.rp-json.example")
	if !slices.Equal(c.Resources, []string{"https://api.rp-json.example"}) {
		t.Errorf("clients update: %+v", c)
	}
	var export map[string]any
	jsonRun(&export, false, "", "clients", "export")
	exported, _ := json.Marshal(export)
	var imp struct {
		Imported          int `json:"imported"`
		AlreadyRegistered int `json:"already_registered"`
	}
	jsonRun(&imp, true, "", "clients", "import", file("clients.json", string(exported)))
	if imp.Imported != 0 || imp.AlreadyRegistered != 1 {
		t.Errorf("clients import: %+v", imp)
	}

	var term struct {
		ID     string `json:"id"`
		Alg    string `json:"alg,omitempty"`
		Region string `json:"region,omitempty"`
		State  string `json:"state,omitempty"`
	}
	jsonRun(&term, true, "", "terminals", "add", "--id", "t-json", "--name", "JSON counter", "--region", "310104", "--public-key", file("t.pem", string(testTerminalKeyPEM(t))))
	if term.ID != "t-json" || term.Alg != "SM2" || term.Region != "310104" {
		t.Errorf("terminals add: %+v", term)
	}
	var terms []struct {
		ID, Name, Region, Alg, State, Created, Revoked string
	}
	jsonRun(&terms, false, "", "terminals", "list")
	if len(terms) != 1 || terms[0].State != "active" {
		t.Errorf("terminals list: %+v", terms)
	}
	jsonRun(&term, true, "", "terminals", "revoke", "t-json")
	if term.State != "revoked" {
		t.Errorf("terminals revoke: %+v", term)
	}

	var val idValidateJSON
	jsonRun(&val, true, "", "id", "validate", "11010519491231002X")
	if val.Type != "resident_id" || val.BirthDate != "1949-12-31" || val.Region == nil {
		t.Errorf("id validate: %+v", val)
	}
	var sym struct {
		Symbol     string `json:"symbol"`
		KeyVersion int    `json:"key_version"`
	}
	jsonRun(&sym, true, "11010519491231002X", "id", "derive", "-")
	if len(sym.Symbol) != 34 || sym.KeyVersion != 1 {
		t.Errorf("id derive: %+v", sym)
	}
	var imported struct {
		SecretName string `json:"secret_name"`
		Version    int    `json:"version"`
	}
	jsonRun(&imported, true, strings.Repeat("ab", 32), "id", "import-key", "--version", "2", "--file", "-")
	if imported.SecretName != "symbol" || imported.Version != 2 {
		t.Errorf("id import-key: %+v", imported)
	}
	var syms struct {
		Symbols []struct {
			Symbol     string `json:"symbol"`
			KeyVersion int    `json:"key_version"`
		} `json:"symbols"`
	}
	jsonRun(&syms, true, "", "id", "derive", "11010519491231002X", "--all")
	if len(syms.Symbols) != 2 || syms.Symbols[0].KeyVersion != 2 {
		t.Errorf("id derive --all: %+v", syms)
	}
	var removed struct {
		SecretName string `json:"secret_name"`
		Version    int    `json:"version"`
	}
	jsonRun(&removed, true, "", "id", "remove-key", "--version", "1")
	if removed.SecretName != "symbol" || removed.Version != 1 {
		t.Errorf("id remove-key: %+v", removed)
	}
	var batch struct {
		Lines      int64   `json:"lines"`
		Invalid    int64   `json:"invalid"`
		Seconds    float64 `json:"seconds"`
		PerSecond  float64 `json:"per_second"`
		KeyVersion int     `json:"key_version"`
		Out        string  `json:"out"`
	}
	symbols := filepath.Join(dir, "symbols.txt")
	jsonRun(&batch, true, "", "id", "derive-batch", "--in", file("ids.txt", "11010519491231002X\n11010519491231002X\n"), "--out", symbols)
	if got, _ := os.ReadFile(symbols); batch.Lines != 2 || batch.Invalid != 0 || batch.KeyVersion != 2 || batch.Out != symbols || strings.Count(string(got), "\n") != 2 {
		t.Errorf("id derive-batch: %+v, %q", batch, got)
	}

	var shown struct {
		Kind       string `json:"kind"`
		Payload    string `json:"payload"`
		Characters int    `json:"characters"`
		QRVersion  int    `json:"qr_version"`
	}
	jsonRun(&shown, true, "", "qr", "show", "--demo", "--wallet", filepath.Join(dir, "wallet.json"), "--kind", "static")
	if shown.Kind != "static" || shown.Characters != len(shown.Payload) || shown.QRVersion == 0 {
		t.Errorf("qr show: %+v", shown)
	}
	var verified qrVerifyJSON
	jsonRun(&verified, true, shown.Payload, "qr", "verify", "-", "--no-status")
	if !verified.Valid || verified.Kind != "static" || verified.Static == nil || verified.StatusChecked {
		t.Errorf("qr verify: %+v", verified)
	}

	var regions []map[string]any
	jsonRun(&regions, false, "", "ledger", "regions")
	var proposals []map[string]any
	jsonRun(&proposals, false, "", "ledger", "proposals")
	var lv struct {
		Verified bool   `json:"verified"`
		Blocks   uint64 `json:"blocks"`
	}
	jsonRun(&lv, true, "", "ledger", "verify")
	if !lv.Verified || lv.Blocks == 0 {
		t.Errorf("ledger verify: %+v", lv)
	}
	var dead []ledger.DeadBatch
	jsonRun(&dead, true, "", "ledger", "dead-batches")
	if dead == nil || len(dead) != 0 {
		t.Errorf("ledger dead-batches: %+v", dead)
	}

	var hk struct {
		File string         `json:"file"`
		JWK  map[string]any `json:"jwk"`
		DID  string         `json:"did"`
	}
	jsonRun(&hk, true, "", "vc", "keygen", "--out", filepath.Join(dir, "holder.pem"))
	if !strings.HasPrefix(hk.DID, "did:key:") || hk.JWK["kty"] != "EC" {
		t.Errorf("vc keygen: %+v", hk)
	}

	ready := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }))
	defer ready.Close()
	var health struct {
		URL        string `json:"url"`
		StatusCode int    `json:"status_code"`
		Ready      bool   `json:"ready"`
	}
	jsonRun(&health, true, "", "healthcheck", "--url", ready.URL+"/probe")
	if !health.Ready || health.StatusCode != 200 {
		t.Errorf("healthcheck: %+v", health)
	}

	// Last: it changes the data directory's KEK.
	t.Setenv("TRUSTID_NEW_KEK", "5c0ffee15600d5eedfeedfacecafe000")
	var rk kekRotation
	jsonRun(&rk, true, "", "keys", "rotate-kek")
	if rk.Keystore != filepath.Join(n.dir, keystoreFile) || rk.OldKEKID != kekID(t, testKEK) || rk.NewKEKID != kekID(t, "5c0ffee15600d5eedfeedfacecafe000") {
		t.Errorf("keys rotate-kek: %+v", rk)
	}

	// The commands that need a running node are TestCLIOutputJSONNode's.
	for key := range outputCommands {
		if !tested[key] && !slices.Contains(nodeOutputCommands, key) && !slices.Contains([]string{"ledger vote", "ledger head", "ledger audit-verify"}, key) {
			t.Errorf("%s: no -o json test", key)
		}
	}
}

// nodeOutputCommands are the --output commands TestCLIOutputJSONNode runs.
var nodeOutputCommands = []string{"token", "vc issue", "vc verify", "vc status", "vc present", "issuers accredit", "issuers show", "wallet enroll", "wallet code"}

// TestCLIOutputJSONNode runs the --output commands that talk to a node
// against a running node, with -o json.
func TestCLIOutputJSONNode(t *testing.T) {
	n := startAuthNode(t)
	key := n.addClient("rp-out", "SM2", strings.Join([]string{auth.ScopeCredentialsIssue, auth.ScopeStatusWrite, auth.ScopeEnroll}, ","))
	node := []string{"--node", n.base, "--data", n.dir}
	jsonRun := func(v any, args ...string) {
		t.Helper()
		out, errOut, code := cliExec(t, "", append(append(args, "-o", "json"), node...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", args, code, out, errOut)
		}
		decodeOne(t, strings.Join(args, " "), out, v, false)
	}
	var tok auth.TokenResponse
	jsonRun(&tok, "token", "--client-id", "rp-out", "--key", key)
	if tok.AccessToken == "" {
		t.Fatalf("token: %+v", tok)
	}
	t.Setenv("TRUSTID_ACCESS_TOKEN", tok.AccessToken)
	n.accredit("rp-out", "ResidenceCredential")
	var rec map[string]any
	jsonRun(&rec, "issuers", "accredit", "--client", "rp-out", "--types", "ResidenceCredential", "--token", n.admin)
	jsonRun(&rec, "issuers", "show", "rp-out", "--token", n.admin)
	if rec["id"] == nil {
		t.Errorf("issuers show: %v", rec)
	}
	credFile := filepath.Join(n.dir, "residence.json")
	os.WriteFile(credFile, []byte(`{"@context": ["https://www.w3.org/ns/credentials/v2"], "type": ["VerifiableCredential", "ResidenceCredential"],
  "credentialSubject": {"id": "did:example:resident-3f9a1c0d7e", "region": "310000"}}`), 0o600)
	var issued struct {
		CredentialID         string          `json:"credentialId"`
		VerifiableCredential json.RawMessage `json:"verifiableCredential"`
	}
	jsonRun(&issued, "vc", "issue", credFile)
	if issued.CredentialID == "" || len(issued.VerifiableCredential) == 0 {
		t.Fatalf("vc issue: %+v", issued)
	}
	issuedFile := filepath.Join(n.dir, "issued.json")
	raw, _ := json.Marshal(issued)
	os.WriteFile(issuedFile, raw, 0o600)
	var ver struct {
		Verified bool `json:"verified"`
	}
	jsonRun(&ver, "vc", "verify", issuedFile)
	if !ver.Verified {
		t.Errorf("vc verify: %+v", ver)
	}
	var st map[string]any
	jsonRun(&st, "vc", "status", issuedFile[:0]+issued.CredentialID, "revoke")
	// A credential the node refuses: its answer on stdout, the error JSON
	// on stderr, exit 1.
	out, errOut, code := cliExec(t, "", append([]string{"vc", "verify", issuedFile, "-o", "json"}, node...)...)
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if code != 1 || json.Unmarshal([]byte(out), &ver) != nil || ver.Verified {
		t.Errorf("vc verify of a revoked credential: %d %s %s", code, out, errOut)
	}
	decodeOne(t, "vc verify error", errOut, &e, false)
	if e.Error.Code == "" || !strings.Contains(e.Error.Message, "the node answered") {
		t.Errorf("vc verify error: %+v", e)
	}

	holderKey := filepath.Join(n.dir, "holder.pem")
	cliExec(t, "", "vc", "keygen", "--out", holderKey)
	sd, errOut, code := cliExec(t, "", append([]string{"vc", "issue", credFile, "--format", "sd-jwt", "--holder-key", holderKey, "--raw"}, node...)...)
	if code != 0 {
		t.Fatal(errOut)
	}
	sdFile := filepath.Join(n.dir, "cred.sd-jwt")
	os.WriteFile(sdFile, []byte(sd), 0o600)
	var pres struct {
		Presentation string `json:"presentation"`
	}
	jsonRun(&pres, "vc", "present", sdFile, "--disclose", "region", "--holder-key", holderKey, "--aud", "https://rp.example", "--nonce", "n-1")
	if strings.Count(pres.Presentation, "~") < 2 {
		t.Errorf("vc present: %+v", pres)
	}

	wallet := filepath.Join(n.dir, "wallet.json")
	var enrolled map[string]any
	jsonRun(&enrolled, "wallet", "enroll", "--number", "11010519491231002X", "--name", "张三", "--wallet", wallet)
	if enrolled["assurance_level"] == nil {
		t.Errorf("wallet enroll: %v", enrolled)
	}
	var online map[string]any
	jsonRun(&online, "wallet", "code", "--wallet", wallet)
	if len(online) == 0 {
		t.Errorf("wallet code: %v", online)
	}
}
