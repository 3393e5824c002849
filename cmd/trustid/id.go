package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/internal/progress"
	"github.com/trustid-cn/trustid/keystore"
)

// Exit statuses of the id commands.
const (
	exitInvalid      = 2 // validate/derive: the number is invalid
	exitInvalidLines = 3 // derive-batch: done, but some lines were invalid
)

// idError is an error with a message for stderr and an exit status.
type idError struct {
	msg  string
	code exitCode
}

func (e *idError) Error() string { return e.msg }
func (e *idError) Unwrap() error { return e.code }

func newIDCmd() *cobra.Command {
	id := &cobra.Command{
		Use:   "id",
		Short: "Validate identity document numbers and derive identity symbols",
		Long: `Validate identity document numbers and derive identity symbols.

NUMBER may be "-" to read it from standard input (an MRZ as two lines), so
that it stays out of the shell history and the process list. No command
prints a number back: errors name the rule that failed.

The national symbol key is read from the node keystore in --data. On a
multi-node setup import the same key on every node first, with
"trustid id import-key" or with TRUSTID_SYMBOL_KEY (hex) and
TRUSTID_SYMBOL_KEY_VERSION in the environment (likewise
TRUSTID_PAIRWISE_KEY); without either, a node generates its own key on
first use and its symbols match no other node's.`,
	}
	id.AddCommand(newIDValidateCmd(), newIDDeriveCmd(), newIDDeriveBatchCmd(), newIDImportKeyCmd(), newIDRemoveKeyCmd())
	return id
}

// docTypeFlag resolves --type.
func docTypeFlag(cmd *cobra.Command) (identity.DocType, error) {
	name, _ := cmd.Flags().GetString("type")
	if name == "" {
		return identity.DocTypeUnknown, nil
	}
	var names []string
	for t := identity.ResidentID; t <= identity.Passport; t++ {
		if t.String() == name {
			return t, nil
		}
		names = append(names, t.String())
	}
	return 0, fmt.Errorf("--type %q: want one of %s", name, strings.Join(names, ", "))
}

// numberArg returns NUMBER, or standard input for "-".
func numberArg(cmd *cobra.Command, arg string) (string, error) {
	if arg != "-" {
		return arg, nil
	}
	raw, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), identity.MaxInputLen+1))
	if err != nil {
		return "", fmt.Errorf("reading the number: %w", err)
	}
	return string(raw), nil
}

// parseNumberArg parses NUMBER with --strict and --type; an invalid number is
// an idError naming the code and rule, never the number.
func parseNumberArg(cmd *cobra.Command, arg string) (identity.Document, error) {
	t, err := docTypeFlag(cmd)
	if err != nil {
		return identity.Document{}, err
	}
	in, err := numberArg(cmd, arg)
	if err != nil {
		return identity.Document{}, err
	}
	strict, _ := cmd.Flags().GetBool("strict")
	v := &identity.Validator{Strict: strict}
	var doc identity.Document
	if t == identity.DocTypeUnknown {
		doc, err = v.Parse(in)
	} else {
		doc, err = v.ParseAs(t, in)
	}
	if err != nil {
		code, _ := identity.CodeOf(err)
		return identity.Document{}, &idError{msg: string(code) + ": " + err.Error(), code: exitInvalid}
	}
	return doc, nil
}

func addParseFlags(cmd *cobra.Command) {
	cmd.Flags().Bool("strict", false, "reject address codes (and foreigners' nationalities) found in no table")
	cmd.Flags().String("type", "", "insist on a document type: resident_id, hmt_permit, foreign_permanent_2023, foreign_permanent_2017, passport")
}

type idRegionJSON struct {
	Code     string `json:"code"`
	Province string `json:"province"`
	City     string `json:"city"`
	County   string `json:"county"`
	Known    bool   `json:"known"`
}

type idValidateJSON struct {
	Type        string        `json:"type"`
	Masked      string        `json:"masked"`
	Region      *idRegionJSON `json:"region,omitempty"`
	BirthDate   string        `json:"birth_date,omitempty"`
	Sex         string        `json:"sex"`
	Nationality string        `json:"nationality,omitempty"`
	Expiry      string        `json:"expiry_date,omitempty"`
}

func newIDValidateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "validate NUMBER",
		Short: "Check a document number; print its type, masked number, region, birth date and sex as JSON",
		Long: `Check a document number and print, as JSON, its type, masked number,
region (GB/T 2260), birth date, sex and nationality. Exit status 0 when
valid; 2 with "CODE: reason" on standard error when not (see the codes in
docs/identity.md).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			doc, err := parseNumberArg(cmd, args[0])
			if err != nil {
				return err
			}
			out := idValidateJSON{
				Type: doc.Type().String(), Masked: doc.Masked(),
				BirthDate: doc.BirthDate().String(), Sex: doc.Sex().String(),
				Nationality: doc.Nationality(),
			}
			if r := doc.Region(); r.Code != "" {
				out.Region = &idRegionJSON{Code: r.Code, Province: r.Province, City: r.City, County: r.County, Known: r.Known}
			}
			if e := doc.Expiry(); !e.IsZero() {
				out.Expiry = e.Format(time.DateOnly)
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetEscapeHTML(false)
			return enc.Encode(out)
		},
	}
	addParseFlags(cmd)
	return cmd
}

func newIDDeriveCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "derive NUMBER",
		Short: "Print the identity symbol of a document under the node's symbol key",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			doc, err := parseNumberArg(cmd, args[0])
			if err != nil {
				return err
			}
			d, err := cliDeriver(cmd)
			if err != nil {
				return err
			}
			type symJSON struct {
				Symbol     string `json:"symbol"`
				KeyVersion int    `json:"key_version"`
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			if all, _ := cmd.Flags().GetBool("all"); all {
				syms, err := d.DeriveAll(doc)
				if err != nil {
					return err
				}
				out := struct {
					Symbols []symJSON `json:"symbols"`
				}{}
				for _, s := range syms {
					out.Symbols = append(out.Symbols, symJSON{s.Text(), s.Version()})
				}
				return enc.Encode(out)
			}
			s, err := d.Derive(doc)
			if err != nil {
				return err
			}
			return enc.Encode(symJSON{s.Text(), s.Version()})
		},
	}
	addParseFlags(cmd)
	cmd.Flags().Bool("all", false, "print the symbol under every key version held, newest first (for migration)")
	return cmd
}

func newIDImportKeyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import-key",
		Short: "Import a version of a national key (the symbol key by default) into the node keystore",
		Long: `Import a version of a national key into the node keystore. The file holds
the key in hex (32 to 128 hex digits, 64 recommended); "-" reads standard
input. Import the same version on every node. Importing the same value
again does nothing; a different value under an existing version is refused.
A version "trustid id remove-key" removed takes back the key it held (one
removed by mistake is restored) and no other, since symbols and pairwise IDs
recorded under a version must derive again alike: import a new key as a new,
higher version. --secret-name chooses the key: symbol (default) or
pairwise (national), or pin-mac or pin-seal (a region's, shared by its
instances; pin-seal is 16 bytes).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			version, _ := f.GetInt("version")
			file, _ := f.GetString("file")
			name, _ := f.GetString("secret-name")
			size := secretSizes[name]
			if !slices.Contains(importedSecrets, name) {
				return fmt.Errorf("--secret-name %q: want symbol, pairwise, pin-mac or pin-seal", name)
			}
			if version < 1 || version > identity.MaxKeyVersion {
				return fmt.Errorf("--version must be 1..%d", identity.MaxKeyVersion)
			}
			if file == "" {
				return errors.New("--file is required")
			}
			var raw []byte
			var err error
			if file == "-" {
				raw, err = io.ReadAll(io.LimitReader(cmd.InOrStdin(), 1024))
			} else {
				raw, err = readLimitedFile(file, 1024)
			}
			if err != nil {
				return fmt.Errorf("--file: %w", err)
			}
			key, err := parseHexKey(string(raw), name, size)
			if err != nil {
				return fmt.Errorf("--file: %w", err)
			}
			// Not keysOpen: a fresh keystore imports the key before
			// anything makes a node-local one.
			log, err := newLogger(cmd)
			if err != nil {
				return err
			}
			ks, err := openKeystore(cmd, log.With(slog.String("cmd", cmd.CommandPath())))
			if err != nil {
				return err
			}
			if err := ks.ImportSecret(name, version, key); err != nil {
				if errors.Is(err, keystore.ErrSecretSeen) {
					return fmt.Errorf("the keystore already holds a different %s key version %d (a node-local key generated at first start?): import the national key as a later --version, or into a fresh --data", name, version)
				}
				return err
			}
			return printResult(cmd, map[string]any{"secret_name": name, "version": version}, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "imported %s key version %d\n", name, version)
				return err
			})
		},
	}
	f := cmd.Flags()
	f.Int("version", 0, "key version (1..31), the same on every node")
	f.String("file", "", "file holding the key in hex, or - for standard input")
	f.String("secret-name", secretSymbol, "which key: symbol, pairwise, pin-mac or pin-seal")
	return cmd
}

func newIDRemoveKeyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "remove-key",
		Short: "Remove an older version of a national key from the node keystore, once holders have migrated",
		Long: `Remove an older version of a key that "trustid id import-key" takes (the
symbol key by default) from the node keystore: the last step of a key-version
migration (docs/identity.md). Symbols (or pairwise IDs) of that version then
fail with unknown_key_version, and a compromised version derives nothing more.
The newest version cannot be removed: import its successor first. Remove the
version on every node, and restart each node for it to take effect; a
TRUSTID_<NAME>_KEY that still gives the version imports it again. The
keystore keeps a fingerprint of the removed key (never the key): importing
the version again restores it with that key only, and refuses any other.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			version, _ := f.GetInt("version")
			name, _ := f.GetString("secret-name")
			if !slices.Contains(importedSecrets, name) {
				return fmt.Errorf("--secret-name %q: want symbol, pairwise, pin-mac or pin-seal", name)
			}
			if version < 1 || version > identity.MaxKeyVersion {
				return fmt.Errorf("--version must be 1..%d", identity.MaxKeyVersion)
			}
			log, err := newLogger(cmd)
			if err != nil {
				return err
			}
			ks, err := openKeystore(cmd, log.With(slog.String("cmd", cmd.CommandPath())))
			if err != nil {
				return err
			}
			switch err := ks.RemoveSecret(name, version); {
			case errors.Is(err, keystore.ErrNotFound):
				return fmt.Errorf("the keystore holds no %s key version %d", name, version)
			case errors.Is(err, keystore.ErrKeyState):
				return fmt.Errorf("%s key version %d is the newest, the one that derives: import a later version first", name, version)
			case err != nil:
				return err
			}
			return printResult(cmd, map[string]any{"secret_name": name, "version": version}, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "removed %s key version %d; restart the node for it to take effect\n", name, version)
				return err
			})
		},
	}
	f := cmd.Flags()
	f.Int("version", 0, "key version to remove (1..31), an older one")
	f.String("secret-name", secretSymbol, "which key: symbol, pairwise, pin-mac or pin-seal")
	return cmd
}

func readLimitedFile(path string, limit int64) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	raw, err := io.ReadAll(io.LimitReader(fh, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(raw)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return raw, nil
}

// parseHexKey decodes a key given in hex; pin-seal must be 16 bytes, the
// others 16 to 64.
func parseHexKey(s, name string, size int) ([]byte, error) {
	key, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, errors.New("the key must be hex digits")
	}
	if name == secretPINSeal && len(key) != size {
		return nil, fmt.Errorf("the %s key must be %d bytes (%d hex digits)", name, size, 2*size)
	}
	if len(key) < 16 || len(key) > 64 {
		return nil, errors.New("the key must be 16 to 64 bytes (32 to 128 hex digits)")
	}
	return key, nil
}

// importEnvKey imports TRUSTID_<NAME>_KEY (hex) under
// TRUSTID_<NAME>_KEY_VERSION when the variable is set.
func importEnvKey(ks *keystore.Store, name string) error {
	envKey := envPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_")) + "_KEY"
	val, ok := os.LookupEnv(envKey)
	if !ok || val == "" {
		return nil
	}
	verText := os.Getenv(envKey + "_VERSION")
	version, err := strconv.Atoi(verText)
	if err != nil || version < 1 || version > identity.MaxKeyVersion {
		return fmt.Errorf("%s is set: %s_VERSION must be the key version, 1..%d", envKey, envKey, identity.MaxKeyVersion)
	}
	key, err := parseHexKey(val, name, secretSizes[name])
	if err != nil {
		return fmt.Errorf("%s: %w", envKey, err)
	}
	if err := ks.ImportSecret(name, version, key); err != nil {
		if errors.Is(err, keystore.ErrSecretSeen) {
			return fmt.Errorf("%s: the keystore already holds a different %s key version %d", envKey, name, version)
		}
		return fmt.Errorf("%s: %w", envKey, err)
	}
	return nil
}

// secretVersions returns every version of a named secret, after importing the
// one given in the environment. When the keystore holds none, version 1 is
// generated; for the national keys a warning says that identifiers derived
// with it match no other node's.
func secretVersions(ks *keystore.Store, log *slog.Logger, name string) ([]identity.VersionedKey, error) {
	if err := importEnvKey(ks, name); err != nil {
		return nil, err
	}
	var keys []identity.VersionedKey
	for v := 1; v <= identity.MaxKeyVersion; v++ {
		sec, err := ks.SecretVersion(name, v)
		if errors.Is(err, keystore.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		keys = append(keys, identity.VersionedKey{Version: sec.Version, Secret: sec.Value()})
	}
	if len(keys) > 0 {
		return keys, nil
	}
	sec, err := nodeSecret(ks, name)
	if err != nil {
		return nil, err
	}
	if name == secretSymbol || name == secretPairwise {
		log.Warn(fmt.Sprintf("generated a node-local %s key (version %d): identifiers derived with it match no other node's; "+
			"import the national key as a later version (trustid id import-key --secret-name %s --version %d) or start with a fresh --data "+
			"and import it first, or set %s%s_KEY", name, sec.Version, name, sec.Version+1, envPrefix, strings.ToUpper(name)),
			slog.String("secret", sec.String()))
	}
	return []identity.VersionedKey{{Version: sec.Version, Secret: sec.Value()}}, nil
}

// newSymbolDeriver builds the node's Deriver from its keystore.
func newSymbolDeriver(ks *keystore.Store, log *slog.Logger) (*identity.Deriver, error) {
	keys, err := secretVersions(ks, log, secretSymbol)
	if err != nil {
		return nil, err
	}
	return identity.NewDeriver(keys...)
}

// newPairwiseDeriver builds the node's PairwiseDeriver from its keystore
// (secret "pairwise", national), for the features that give relying
// parties pairwise IDs.
func newPairwiseDeriver(ks *keystore.Store, log *slog.Logger) (*identity.PairwiseDeriver, error) {
	keys, err := secretVersions(ks, log, secretPairwise)
	if err != nil {
		return nil, err
	}
	return identity.NewPairwiseDeriver(keys...)
}

// newPINSealer builds the region's PINSealer from its keystore (secrets
// "pin-mac" and "pin-seal", which every instance of the region shares).
func newPINSealer(ks *keystore.Store, log *slog.Logger) (*identity.PINSealer, error) {
	macs, err := secretVersions(ks, log, secretPINMAC)
	if err != nil {
		return nil, err
	}
	seals, err := secretVersions(ks, log, secretPINSeal)
	if err != nil {
		return nil, err
	}
	return identity.NewPINSealer(macs, seals, nil)
}

func cliDeriver(cmd *cobra.Command) (*identity.Deriver, error) {
	log, err := newLogger(cmd)
	if err != nil {
		return nil, err
	}
	log = log.With(slog.String("cmd", cmd.CommandPath()))
	ks, err := openKeystore(cmd, log)
	if err != nil {
		return nil, err
	}
	return newSymbolDeriver(ks, log)
}

func newIDDeriveBatchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "derive-batch",
		Short: "Derive symbols for a file of numbers, one per line, in order",
		Long: `Read document numbers, one per line, and write their symbols, one per
line in the same order. An invalid line gives "!CODE" (e.g.
"!check_digit_mismatch") in its place, so line N of the output always
answers line N of the input. A count goes to standard error at the end,
with a progress bar while it runs when standard error is a terminal.
Exit status 0 when every line was valid, 3 when some were not.`,
		Args: cobra.NoArgs,
		RunE: runDeriveBatch,
	}
	f := cmd.Flags()
	f.String("in", "-", "input file, or - for standard input")
	f.String("out", "-", "output file (created with mode 0600; not the --in file), or - for standard output")
	f.Int("workers", 0, "derivation goroutines (0: one per CPU)")
	f.Bool("strict", false, "reject address codes found in no table")
	return cmd
}

// Batch sizing: input is read in chunks of about idBatchChunk bytes, cut at
// a line end; each chunk is one unit of work.
const idBatchChunk = 1 << 20

type idBatchJob struct {
	seq   int
	in    *[]byte
	out   *[]byte
	lines int
	bad   int
}

func runDeriveBatch(cmd *cobra.Command, _ []string) error {
	f := cmd.Flags()
	inPath, _ := f.GetString("in")
	outPath, _ := f.GetString("out")
	workers, _ := f.GetInt("workers")
	strict, _ := f.GetBool("strict")
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if workers > 256 {
		return errors.New("--workers must be at most 256")
	}
	asJSON := jsonOutput(cmd)
	if asJSON && outPath == "-" {
		return usageError{errors.New("--output json needs --out FILE: standard output carries the symbols")}
	}
	// --out is truncated before --in is read: the same file would be lost.
	if inPath != "-" && outPath != "-" {
		inInfo, err1 := os.Stat(inPath)
		outInfo, err2 := os.Stat(outPath)
		if err1 == nil && err2 == nil && os.SameFile(inInfo, outInfo) {
			return usageError{fmt.Errorf("--out %s is the --in file: write the symbols to another file", outPath)}
		}
	}
	d, err := cliDeriver(cmd)
	if err != nil {
		return err
	}

	var in io.Reader = cmd.InOrStdin()
	var total int64 // input size when known, for the progress bar
	if inPath != "-" {
		fh, err := os.Open(inPath)
		if err != nil {
			return fmt.Errorf("--in: %w", err)
		}
		defer fh.Close()
		if st, err := fh.Stat(); err == nil && st.Mode().IsRegular() {
			total = st.Size()
		}
		in = fh
	}
	var out io.Writer = cmd.OutOrStdout()
	var outFile *os.File
	if outPath != "-" {
		fh, err := os.OpenFile(outPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return fmt.Errorf("--out: %w", err)
		}
		defer fh.Close()
		out = fh
		if st, err := fh.Stat(); err == nil && st.Mode().IsRegular() {
			outFile = fh // synced at the end; devices and pipes are not
		}
	}

	b := &idBatch{deriver: d, strict: strict, workers: workers}
	stopProgress := func() {}
	if !asJSON {
		stopProgress = startBatchProgress(cmd.ErrOrStderr(), progress.Options{Unit: "lines"}, &b.linesDone, &b.bytesRead, total).Stop
	}
	start := time.Now()
	err = b.run(cmd, in, out)
	stopProgress()
	if err == nil && outFile != nil {
		err = outFile.Sync()
	}
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	lines, bad := b.linesDone.Load(), b.bad.Load()
	rate := float64(lines) / elapsed.Seconds()
	if asJSON {
		err = writeJSON(cmd.OutOrStdout(), map[string]any{"lines": lines, "invalid": bad, "seconds": elapsed.Seconds(),
			"per_second": rate, "key_version": d.Version(), "out": outPath})
		if err != nil {
			return err
		}
	} else {
		fmt.Fprintf(cmd.ErrOrStderr(), "derive-batch: %d lines, %d invalid, %s (%.0f lines/s), key version %d\n",
			lines, bad, elapsed.Round(time.Millisecond), rate, d.Version())
	}
	if bad > 0 {
		return &idError{msg: fmt.Sprintf("derive-batch: %d of %d lines invalid (marked !CODE in the output)", bad, lines), code: exitInvalidLines}
	}
	return nil
}

// idBatch is one run of derive-batch: a reader cutting the input into chunks
// at line ends, workers deriving each chunk into an output buffer, and a
// writer putting the buffers out in input order.
type idBatch struct {
	deriver *identity.Deriver
	strict  bool
	workers int
	chunk   int // bytes per chunk; 0 means idBatchChunk

	inPool, outPool sync.Pool

	linesDone atomic.Int64
	bytesRead atomic.Int64
	bad       atomic.Int64
}

func (b *idBatch) run(cmd *cobra.Command, in io.Reader, out io.Writer) error {
	ctx := cmd.Context()
	if b.chunk == 0 {
		b.chunk = idBatchChunk
	}
	b.inPool.New = func() any { s := make([]byte, 0, b.chunk+4096); return &s }
	b.outPool.New = func() any { s := make([]byte, 0, 2*b.chunk+4096); return &s }

	jobs := make(chan *idBatchJob, 2*b.workers)
	done := make(chan *idBatchJob, 2*b.workers)
	stop := make(chan struct{})
	var stopOnce sync.Once
	halt := func() { stopOnce.Do(func() { close(stop) }) }

	var readErr error
	go func() {
		defer close(jobs)
		readErr = b.read(in, jobs, stop)
	}()
	var wg sync.WaitGroup
	for i := 0; i < b.workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				b.derive(j)
				done <- j
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()

	// The writer, in this goroutine: results come back out of order.
	var writeErr error
	pending := map[int]*idBatchJob{}
	next := 0
	for j := range done {
		pending[j.seq] = j
		for {
			p, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			next++
			if writeErr == nil {
				if _, err := out.Write(*p.out); err != nil {
					writeErr = fmt.Errorf("writing symbols: %w", err)
					halt()
				}
				b.linesDone.Add(int64(p.lines))
				b.bad.Add(int64(p.bad))
			}
			*p.in, *p.out = (*p.in)[:0], (*p.out)[:0]
			b.inPool.Put(p.in)
			b.outPool.Put(p.out)
		}
		if writeErr == nil && ctx != nil && ctx.Err() != nil {
			writeErr = ctx.Err()
			halt()
		}
	}
	if writeErr != nil {
		return writeErr
	}
	if readErr != nil {
		return fmt.Errorf("reading numbers: %w", readErr)
	}
	return nil
}

// read cuts the input into chunks ending at a line end (the last chunk may
// end without one). A line longer than a whole chunk is replaced by an
// over-long placeholder, so that it yields one "!input_too_large" line.
func (b *idBatch) read(in io.Reader, jobs chan<- *idBatchJob, stop <-chan struct{}) error {
	seq := 0
	var carry []byte
	skipping := false // inside an over-long line, dropping bytes to its end
	tooLong := bytes.Repeat([]byte{'0'}, identity.MaxInputLen+1)
	for {
		bufp := b.inPool.Get().(*[]byte)
		buf := append((*bufp)[:0], carry...)
		carry = carry[:0]
		n, err := io.ReadFull(in, buf[len(buf):b.chunk])
		b.bytesRead.Add(int64(n))
		buf = buf[:len(buf)+n]
		eof := err == io.EOF || err == io.ErrUnexpectedEOF
		if err != nil && !eof {
			b.inPool.Put(bufp)
			return err
		}
		if skipping {
			i := bytes.IndexByte(buf, '\n')
			if i < 0 {
				buf = buf[:0]
			} else {
				buf = append(buf[:0], buf[i+1:]...)
				skipping = false
			}
		}
		if !eof {
			i := bytes.LastIndexByte(buf, '\n')
			if i < 0 && len(buf) == b.chunk {
				// One line fills the chunk: emit the placeholder and drop
				// the rest of the line. (What follows the end of a
				// skipped line is shorter, and carried like any line.)
				buf = append(buf[:0], tooLong...)
				buf = append(buf, '\n')
				skipping = true
			} else {
				carry = append(carry, buf[i+1:]...)
				buf = buf[:i+1]
			}
		}
		if len(buf) == 0 {
			b.inPool.Put(bufp)
		} else {
			*bufp = buf
			select {
			case jobs <- &idBatchJob{seq: seq, in: bufp, out: b.outPool.Get().(*[]byte)}:
				seq++
			case <-stop:
				return nil
			}
		}
		if eof {
			return nil
		}
	}
}

// derive turns one chunk of lines into symbols or "!CODE" lines.
func (b *idBatch) derive(j *idBatchJob) {
	now := time.Now()
	v := &identity.Validator{Strict: b.strict, Now: func() time.Time { return now }}
	in, out := *j.in, (*j.out)[:0]
	for len(in) > 0 {
		line := in
		if i := bytes.IndexByte(in, '\n'); i >= 0 {
			line, in = in[:i], in[i+1:]
		} else {
			in = nil
		}
		j.lines++
		sym, err := b.deriver.DeriveInput(v, line)
		if err != nil {
			j.bad++
			code, ok := identity.CodeOf(err)
			if !ok {
				code = "error"
			}
			out = append(out, '!')
			out = append(out, code...)
			out = append(out, '\n')
			continue
		}
		out = sym.AppendText(out)
		out = append(out, '\n')
	}
	*j.out = out
}

// startBatchProgress draws a progress line on w while a batch runs, when w is
// a terminal (internal/progress): lines done, rate, and with a known input
// size the share read and the time left. Its Stop stops it and clears the
// line.
func startBatchProgress(w io.Writer, o progress.Options, lines, read *atomic.Int64, total int64) *progress.Line {
	return progress.Start(w, o, func() progress.Status {
		s := progress.Status{Done: lines.Load(), Fraction: -1}
		if total > 0 {
			s.Fraction = float64(read.Load()) / float64(total)
		}
		return s
	})
}
