package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"

	"github.com/spf13/cobra"
)

// Output formats of the commands that print data (--output, -o).
const (
	outputText = "text"
	outputJSON = "json"
)

// outputCommands are the commands with --output, and the JSON value each
// prints on stdout with -o json (docs/operations.md, "The CLI", lists the
// same). A test runs each and decodes its output into the shape named
// here.
var outputCommands = map[string]string{
	"keys list":           "array of key: kid, alg, state, created, retiring, retired (RFC 3339, absent when unset)",
	"keys rotate":         "key: kid, alg, state",
	"keys retire":         "key: kid, state",
	"keys rotate-kek":     "keystore, old_kek_id, new_kek_id",
	"clients add":         "client (as clients show), with client_secret once for --secret",
	"clients list":        "array of client (as clients show)",
	"clients show":        "client: client_id, client_name, region, jwks, grant_types, scopes, token_endpoint_auth_method, ... (the registry record, no secret verifier)",
	"clients rotate-key":  "client (as clients show)",
	"clients update":      "client (as clients show)",
	"clients disable":     "client_id, disabled",
	"clients enable":      "client_id, disabled",
	"clients import":      "imported, already_registered",
	"clients export":      "the trustid-clients/1 file",
	"clients keygen":      "kid, private_key, public_jwks (file paths)",
	"token":               "the token response: access_token, token_type, expires_in, scope",
	"id validate":         "type, masked, region {code, province, city, county, known}, birth_date, sex, nationality, expiry_date",
	"id derive":           "symbol, key_version; with --all: symbols [{symbol, key_version}]",
	"id derive-batch":     "lines, invalid, seconds, per_second, key_version, out (needs --out FILE)",
	"id import-key":       "secret_name, version",
	"id remove-key":       "secret_name, version",
	"terminals add":       "id, alg, region",
	"terminals list":      "array of terminal: id, name, region, alg, state, created, revoked",
	"terminals revoke":    "id, state",
	"qr show":             "kind, payload, characters, qr_version",
	"qr verify":           "valid, kind, summary, region, assurance, presenter, on_behalf_of, action, time, counter, claims, static {masked_name, masked_number, photo_hint}, status_checked",
	"vc issue":            "the node's answer: credentialId, verifiableCredential",
	"vc verify":           "the node's answer: verified, ... (exit 1 unless verified)",
	"vc status":           "the node's answer",
	"vc present":          "presentation",
	"vc keygen":           "file, jwk, did",
	"issuers accredit":    "the node's answer: the issuer record",
	"issuers show":        "the node's answer: the issuer record",
	"wallet enroll":       "the node's answer to POST /v1/enrollments",
	"wallet code":         "the node's answer to POST /v1/qr",
	"ledger regions":      "array of region records",
	"ledger proposals":    "array of proposals",
	"ledger vote":         "the region record after the vote",
	"ledger head":         "the status list head",
	"ledger verify":       "verified, blocks",
	"ledger dead-batches": "array of dead batch: id, reason, changes [{list, index, status}]",
	"ledger audit-verify": "file, node_id, seq, head, chain_verified, anchored, anchored_seq, anchored_at, anchor_tx, unanchored_entries, pruned_through and pruned_to (when the ledger records the log pruned)",
	"healthcheck":         "url, status_code, ready",
}

// addOutputFlags gives every command of outputCommands under root its
// --output (-o) flag.
func addOutputFlags(root *cobra.Command) {
	walkCommands(root, func(c *cobra.Command) {
		if _, ok := outputCommands[commandKey(c)]; ok {
			addOutputFlag(c)
		}
	})
}

// addOutputFlag gives cmd --output (-o): text (the default) or json.
func addOutputFlag(cmd *cobra.Command) {
	cmd.Flags().StringP("output", "o", outputText, "output format: text or json (one JSON value on stdout; an error as JSON on stderr)")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{outputText, outputJSON}, cobra.ShellCompDirectiveNoFileComp))
}

// commandKey is a command's path without the root's name: "clients list".
func commandKey(c *cobra.Command) string {
	path := c.CommandPath()
	if i := strings.IndexByte(path, ' '); i >= 0 {
		return path[i+1:]
	}
	return ""
}

// walkCommands calls f on c and every command below it.
func walkCommands(c *cobra.Command, f func(*cobra.Command)) {
	f(c)
	for _, sub := range c.Commands() {
		walkCommands(sub, f)
	}
}

// checkOutput refuses an --output value other than text or json.
func checkOutput(cmd *cobra.Command) error {
	f := cmd.Flags().Lookup("output")
	if f == nil {
		return nil
	}
	switch v := f.Value.String(); v {
	case outputText, outputJSON:
		return nil
	default:
		return usageError{fmt.Errorf("%s--output %q: want text or json", valueSource(cmd, "output"), v)}
	}
}

// checkFlagValues checks the flags every command may have (--log-level,
// --log-format, --output) before the command runs, whether it logs or
// not.
func checkFlagValues(cmd *cobra.Command) error {
	if _, err := newLoggerTo(cmd, io.Discard); err != nil {
		return usageError{err}
	}
	return checkOutput(cmd)
}

// jsonOutput reports whether cmd prints JSON (-o json).
func jsonOutput(cmd *cobra.Command) bool {
	f := cmd.Flags().Lookup("output")
	return f != nil && f.Value.String() == outputJSON
}

// printResult prints v as one JSON value with -o json, else runs text.
func printResult(cmd *cobra.Command, v any, text func(w io.Writer) error) error {
	if jsonOutput(cmd) {
		return writeJSON(cmd.OutOrStdout(), v)
	}
	return text(cmd.OutOrStdout())
}

// writeJSON writes v as one line of JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// oneFile is rule, the command's positional arguments, for a command
// whose file flags take one file each: when rule refuses the arguments
// and one of those flags was given, a shell glob most likely matched
// several files, and the error says so.
func oneFile(rule cobra.PositionalArgs, flags ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		err := rule(cmd, args)
		if err == nil {
			return nil
		}
		for _, name := range flags {
			if f := cmd.Flags().Lookup(name); f != nil && f.Changed {
				return usageError{fmt.Errorf("--%s takes one file (did a glob match several?)", name)}
			}
		}
		return err
	}
}

// usageError is a command line the command refuses (a flag, an argument).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// nodeError is a node's answer other than the one a command wanted; the
// command has printed the answer. Its exit status is 1.
type nodeError struct {
	status string // "the node answered 400 Bad Request"
	code   string // the answer's "error" member, when it has one
}

func (e *nodeError) Error() string {
	if e.code != "" {
		return fmt.Sprintf("%s (%s)", e.status, e.code)
	}
	return e.status
}

func (e *nodeError) Unwrap() error { return exitCode(1) }

// newNodeError reads the OAuth-style "error" member of a node's answer.
func newNodeError(status int, body []byte) *nodeError {
	var answer struct {
		Error any `json:"error"`
	}
	e := &nodeError{status: fmt.Sprintf("the node answered %d %s", status, http.StatusText(status))}
	if json.Unmarshal(body, &answer) == nil {
		switch v := answer.Error.(type) {
		case string:
			e.code = v
		case map[string]any:
			e.code, _ = v["code"].(string)
		}
	}
	return e
}

// errorCodeRE is the form of the machine-readable codes in error JSON.
var errorCodeRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// errorCode is the machine-readable code of a command's error: the
// identity rule for an invalid number, the node's error code, "usage",
// "timeout", "failed" (the command printed why), or "error".
func errorCode(err error) string {
	var ie *idError
	var ne *nodeError
	var ue usageError
	switch {
	case errors.As(err, &ie):
		if ie.code == exitInvalidLines {
			return "invalid_lines"
		}
		if code, _, ok := strings.Cut(ie.msg, ":"); ok && errorCodeRE.MatchString(code) {
			return code
		}
		return "invalid"
	case errors.As(err, &ne):
		if errorCodeRE.MatchString(ne.code) {
			return ne.code
		}
		return "node_error"
	case errors.As(err, &ue):
		return "usage"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case strings.HasPrefix(err.Error(), "NOT VALID: "): // qr verify
		return "not_valid"
	}
	var ec exitCode
	if errors.As(err, &ec) {
		return "failed"
	}
	return "error"
}

// writeJSONError writes err as {"error":{"code":…,"message":…}}.
func writeJSONError(w io.Writer, err error) {
	type body struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	_ = writeJSON(w, map[string]body{"error": {Code: errorCode(err), Message: err.Error()}})
}

// wantsJSON reports whether the command line asked for -o json, read from
// the parsed flag or, when parsing failed, from the arguments and
// TRUSTID_OUTPUT.
func wantsJSON(cmd *cobra.Command, args []string) bool {
	if cmd == nil || cmd.Flags().Lookup("output") == nil {
		return false
	}
	if jsonOutput(cmd) {
		return true
	}
	for i, a := range args {
		if a == "--" {
			break
		}
		switch {
		case a == "--output=json" || a == "-o=json" || a == "-ojson":
			return true
		case (a == "--output" || a == "-o") && i+1 < len(args) && args[i+1] == outputJSON:
			return true
		}
	}
	return os.Getenv(envName("output")) == outputJSON
}

// execute runs the command line and returns the exit status; errors go to
// stderr, as JSON when the command was asked for -o json.
func execute(root *cobra.Command, args []string, stdout, stderr io.Writer) int {
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	cmd, err := root.ExecuteC()
	if err == nil {
		return 0
	}
	if wantsJSON(cmd, args) {
		writeJSONError(stderr, err)
	} else {
		fmt.Fprintln(stderr, "trustid:", err)
	}
	var ec exitCode
	if errors.As(err, &ec) {
		return int(ec)
	}
	return 1
}

// printNodeAnswer prints a node's JSON answer: indented as text, compact
// with -o json (nothing when the answer is not JSON: the command fails).
func printNodeAnswer(cmd *cobra.Command, raw []byte) {
	if jsonOutput(cmd) {
		var buf bytes.Buffer
		if json.Compact(&buf, raw) == nil {
			fmt.Fprintln(cmd.OutOrStdout(), buf.String())
		}
		return
	}
	var buf bytes.Buffer
	if json.Indent(&buf, raw, "", "  ") != nil {
		buf.Reset()
		buf.Write(raw)
	}
	fmt.Fprintln(cmd.OutOrStdout(), strings.TrimSpace(buf.String()))
}
