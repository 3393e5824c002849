package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/internal/leakcheck"
	"github.com/trustid-cn/trustid/internal/progress"
	"github.com/trustid-cn/trustid/keystore"
)

// runWithStdin is run with standard input.
func runWithStdin(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRootCmd()
	root.SetArgs(args)
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&errOut)
	err := root.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

func exitStatusOf(err error) int {
	var ec exitCode
	if errors.As(err, &ec) {
		return int(ec)
	}
	if err != nil {
		return 1
	}
	return 0
}

// withCheckChar completes a 17-digit body with its check character.
func withCheckChar(body string) string { return body + string(identity.Mod112(body)) }

func TestIDValidate(t *testing.T) {
	out, _, err := runWithStdin(t, "", "id", "validate", "11010519491231002X")
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	want := map[string]any{
		"type": "resident_id", "masked": "1101**********002X", "birth_date": "1949-12-31", "sex": "female", "nationality": "CHN",
		"region": map[string]any{"code": "110105", "province": "北京市", "city": "", "county": "朝阳区", "known": true},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
	if strings.Contains(out, "11010519491231002X") {
		t.Error("output shows the number")
	}

	// An MRZ from standard input.
	mrz := "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10\n"
	out, _, err = runWithStdin(t, mrz, "id", "validate", "-")
	if err != nil || !strings.Contains(out, `"type":"passport"`) || !strings.Contains(out, `"expiry_date":"2012-04-15"`) || strings.Contains(out, "region") {
		t.Errorf("MRZ: %v %s", err, out)
	}

	// Invalid numbers: status 2, the code and rule, never the number.
	unknownCounty := withCheckChar("11019919800101001")
	for _, c := range []struct {
		args []string
		code identity.Code
	}{
		{[]string{"110105194912310021"}, identity.CodeCheckDigitMismatch},
		{[]string{"1101051949123100"}, identity.CodeInvalidLength},
		{[]string{withCheckChar("11010519490230002")}, identity.CodeInvalidBirthDate},
		{[]string{"11010519491231002X", "--type", "passport"}, identity.CodeWrongDocumentType},
		{[]string{unknownCounty, "--strict"}, identity.CodeUnknownAddressCode},
	} {
		out, _, err := runWithStdin(t, "", append([]string{"id", "validate"}, c.args...)...)
		if exitStatusOf(err) != exitInvalid || out != "" {
			t.Errorf("%v: status %d (%v), out %q", c.args, exitStatusOf(err), err, out)
			continue
		}
		if !strings.HasPrefix(err.Error(), string(c.code)+": ") || strings.Contains(err.Error(), c.args[0]) || strings.Contains(err.Error(), c.args[0][:10]) {
			t.Errorf("%v: message %q", c.args, err)
		}
	}
	// Not strict: the unknown county is reported, not refused.
	out, _, err = runWithStdin(t, "", "id", "validate", unknownCounty)
	if err != nil || !strings.Contains(out, `"known":false`) {
		t.Errorf("unknown county: %v %s", err, out)
	}
	if _, _, err := runWithStdin(t, "", "id", "validate", "x", "--type", "nope"); exitStatusOf(err) != 1 || !strings.Contains(err.Error(), "--type") {
		t.Errorf("bad --type: %v", err)
	}
}

func TestIDDeriveAndImport(t *testing.T) {
	t.Setenv("TRUSTID_KEK", "00112233445566778899aabbccddeeff")
	t.Setenv("TRUSTID_SYMBOL_KEY", "")
	national := bytes.Repeat([]byte{7}, 32)
	keyFile := filepath.Join(t.TempDir(), "symbol.hex")
	os.WriteFile(keyFile, []byte(hex.EncodeToString(national)+"\n"), 0o600)
	want, _ := identity.NewDeriver(identity.VersionedKey{Version: 1, Secret: national})
	doc, _ := identity.Parse("11010519491231002X")
	wantSym, _ := want.Derive(doc)

	derive := func(dir string, args ...string) map[string]any {
		t.Helper()
		out, errOut, err := runWithStdin(t, "", append([]string{"id", "derive", "--data", dir}, args...)...)
		if err != nil {
			t.Fatalf("derive: %v\n%s", err, errOut)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	// Two nodes (different keystores, different signing keys) with the
	// imported national key agree, and agree with the library.
	var dirs []string
	for i := 0; i < 2; i++ {
		dir := t.TempDir()
		dirs = append(dirs, dir)
		out, _, err := runWithStdin(t, "", "id", "import-key", "--version", "1", "--file", keyFile, "--data", dir)
		if err != nil || !strings.Contains(out, "imported symbol key version 1") {
			t.Fatalf("import: %v %s", err, out)
		}
		got := derive(dir, "11010519491231002X")
		if got["symbol"] != wantSym.Text() || got["key_version"] != float64(1) {
			t.Errorf("node %d: %v, want %s", i, got, wantSym.Text())
		}
	}
	keysA, _, _ := runWithStdin(t, "", "keys", "list", "--data", dirs[0])
	keysB, _, _ := runWithStdin(t, "", "keys", "list", "--data", dirs[1])
	if keysA == keysB {
		t.Error("the two nodes share signing keys")
	}
	// The legacy number of the same person, from standard input.
	out, _, err := runWithStdin(t, "110105491231002\n", "id", "derive", "-", "--data", dirs[0])
	if err != nil || !strings.Contains(out, wantSym.Text()) {
		t.Errorf("legacy from stdin: %v %s", err, out)
	}
	// Importing again is a no-op; another value under version 1 is refused.
	if _, _, err := runWithStdin(t, "", "id", "import-key", "--version", "1", "--file", keyFile, "--data", dirs[0]); err != nil {
		t.Errorf("re-import: %v", err)
	}
	other := hex.EncodeToString(bytes.Repeat([]byte{8}, 32))
	if _, _, err := runWithStdin(t, other, "id", "import-key", "--version", "1", "--file", "-", "--data", dirs[0]); err == nil || !strings.Contains(err.Error(), "different") {
		t.Errorf("conflicting import: %v", err)
	}
	// Version 2 by environment: derive uses it, --all shows both.
	t.Setenv("TRUSTID_SYMBOL_KEY", other)
	t.Setenv("TRUSTID_SYMBOL_KEY_VERSION", "2")
	got := derive(dirs[0], "11010519491231002X")
	if got["key_version"] != float64(2) || got["symbol"] == wantSym.Text() {
		t.Errorf("after version 2: %v", got)
	}
	all := derive(dirs[0], "11010519491231002X", "--all")
	syms := all["symbols"].([]any)
	if len(syms) != 2 || syms[1].(map[string]any)["symbol"] != wantSym.Text() {
		t.Errorf("--all: %v", all)
	}
	t.Setenv("TRUSTID_SYMBOL_KEY_VERSION", "")
	if _, _, err := runWithStdin(t, "", "id", "derive", "11010519491231002X", "--data", dirs[0]); err == nil || !strings.Contains(err.Error(), "TRUSTID_SYMBOL_KEY_VERSION") {
		t.Errorf("key without version: %v", err)
	}
	t.Setenv("TRUSTID_SYMBOL_KEY", "")
	// A node without the national key generates its own and says so.
	fresh := t.TempDir()
	out, errOut, err := runWithStdin(t, "", "id", "derive", "11010519491231002X", "--data", fresh)
	if err != nil || strings.Contains(out, wantSym.Text()) || !strings.Contains(errOut, "node-local symbol key (version 1)") ||
		!strings.Contains(errOut, "trustid id import-key --secret-name symbol --version 2") {
		t.Errorf("fresh node: %v %s %s", err, out, errOut)
	}
	// Its advice works: version 1 is taken, a later version imports.
	if _, _, err := runWithStdin(t, other, "id", "import-key", "--version", "1", "--file", "-", "--data", fresh); err == nil || !strings.Contains(err.Error(), "later --version") {
		t.Errorf("import over the node-local key: %v", err)
	}
	if _, _, err := runWithStdin(t, other, "id", "import-key", "--version", "2", "--file", "-", "--data", fresh); err != nil {
		t.Errorf("import as version 2: %v", err)
	}
	// Bad input to import-key and derive.
	for _, args := range [][]string{
		{"id", "import-key", "--version", "0", "--file", keyFile},
		{"id", "import-key", "--version", "32", "--file", keyFile},
		{"id", "import-key", "--version", "1"},
		{"id", "import-key", "--version", "1", "--file", keyFile, "--secret-name", "kek"},
		{"id", "import-key", "--version", "1", "--file", keyFile, "--secret-name", "pin-seal"},
	} {
		if _, _, err := runWithStdin(t, "", append(args, "--data", fresh)...); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
	if _, _, err := runWithStdin(t, "zz", "id", "import-key", "--version", "1", "--file", "-", "--data", fresh); err == nil || !strings.Contains(err.Error(), "hex") {
		t.Errorf("non-hex key: %v", err)
	}
	if _, _, err := runWithStdin(t, "", "id", "derive", "110105194912310021", "--data", fresh); exitStatusOf(err) != exitInvalid {
		t.Errorf("invalid number: %v", err)
	}
	// Nothing in the data directories holds a raw number.
	scan := leakcheck.New(t, "11010519491231002X", "110105491231002")
	for _, dir := range append(dirs, fresh) {
		scan.PlantDir(dir)
		if hits := scan.Dir(dir); len(hits) > 0 {
			t.Errorf("%s: %v", dir, hits)
		}
	}
}

// TestIDRemoveKey: the last step of a key-version migration
// (docs/identity.md; docs/SECURITY.md, "symbol key": "remove the old version
// once holders have migrated; its symbols then fail with
// unknown_key_version"). Before, nothing could remove a version, so a
// compromised symbol key stayed on every node and kept deriving.
func TestIDRemoveKey(t *testing.T) {
	t.Setenv("TRUSTID_KEK", "00112233445566778899aabbccddeeff")
	t.Setenv("TRUSTID_SYMBOL_KEY", "")
	dir := t.TempDir()
	for v, b := range map[string]byte{"1": 7, "2": 8} {
		if _, _, err := runWithStdin(t, hex.EncodeToString(bytes.Repeat([]byte{b}, 32)), "id", "import-key", "--version", v, "--file", "-", "--data", dir); err != nil {
			t.Fatal(err)
		}
	}
	symbols := func() []any {
		t.Helper()
		out, errOut, err := runWithStdin(t, "", "id", "derive", "11010519491231002X", "--all", "--data", dir)
		if err != nil {
			t.Fatalf("derive: %v %s", err, errOut)
		}
		var m struct{ Symbols []any }
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatal(err)
		}
		return m.Symbols
	}
	if got := symbols(); len(got) != 2 {
		t.Fatalf("before: %v", got)
	}
	// The newest version derives: it stays.
	if _, _, err := runWithStdin(t, "", "id", "remove-key", "--version", "2", "--data", dir); err == nil || !strings.Contains(err.Error(), "newest") {
		t.Errorf("remove the newest: %v", err)
	}
	var removed map[string]any
	out, _, err := runWithStdin(t, "", "id", "remove-key", "--version", "1", "--data", dir, "-o", "json")
	if err != nil || json.Unmarshal([]byte(out), &removed) != nil || removed["version"] != float64(1) || removed["secret_name"] != "symbol" {
		t.Fatalf("remove version 1: %v %s", err, out)
	}
	got := symbols()
	if len(got) != 1 || got[0].(map[string]any)["key_version"] != float64(2) {
		t.Errorf("after: %v", got)
	}
	ks, err := keystore.Open(filepath.Join(dir, keystoreFile), mustKEK(t), keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := secretVersions(ks, slog.New(slog.DiscardHandler), secretSymbol)
	if err != nil {
		t.Fatal(err)
	}
	d, err := identity.NewDeriver(keys...)
	if err != nil {
		t.Fatal(err)
	}
	old, _ := identity.NewDeriver(identity.VersionedKey{Version: 1, Secret: bytes.Repeat([]byte{7}, 32)})
	doc, _ := identity.Parse("11010519491231002X")
	oldSym, _ := old.Derive(doc)
	if _, err := d.ParseSymbol(oldSym.Text()); !errors.Is(err, identity.ErrUnknownKeyVersion) {
		t.Errorf("a symbol of the removed version: %v", err)
	}
	for _, args := range [][]string{
		{"--version", "1"}, // already removed
		{"--version", "0"},
		{"--version", "32"},
		{"--version", "1", "--secret-name", "kek"},
	} {
		if _, _, err := runWithStdin(t, "", append([]string{"id", "remove-key", "--data", dir}, args...)...); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

// TestIDImportRemovedVersion: a version removed with remove-key takes back
// the key it held and no other (docs/identity.md, "Key-version
// migration"): a symbol or pairwise ID recorded under "version 1" must not
// be derived again differently. Before, remove-key forgot the version and
// import-key took a different key under it.
func TestIDImportRemovedVersion(t *testing.T) {
	t.Setenv("TRUSTID_KEK", "00112233445566778899aabbccddeeff")
	t.Setenv("TRUSTID_SYMBOL_KEY", "")
	dir := t.TempDir()
	hexKey := func(b byte) string { return hex.EncodeToString(bytes.Repeat([]byte{b}, 32)) }
	run := func(stdin string, args ...string) (string, error) {
		t.Helper()
		out, errOut, err := runWithStdin(t, stdin, append(args, "--data", dir)...)
		if err != nil {
			err = fmt.Errorf("%w\n%s", err, errOut)
		}
		return out, err
	}
	for _, secret := range []string{"symbol", "pairwise"} {
		for v, b := range map[string]byte{"1": 7, "2": 8} {
			if _, err := run(hexKey(b), "id", "import-key", "--secret-name", secret, "--version", v, "--file", "-"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := run("", "id", "remove-key", "--secret-name", secret, "--version", "1"); err != nil {
			t.Fatal(err)
		}
		_, err := run(hexKey(9), "id", "import-key", "--secret-name", secret, "--version", "1", "--file", "-")
		if err == nil || !strings.Contains(err.Error(), secret+" version 1") || !strings.Contains(err.Error(), "new version, 3 or later") {
			t.Errorf("%s: another key under the removed version: %v", secret, err)
		}
	}
	symbols := func() []any {
		t.Helper()
		out, err := run("", "id", "derive", "11010519491231002X", "--all")
		if err != nil {
			t.Fatal(err)
		}
		var m struct{ Symbols []any }
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatal(err)
		}
		return m.Symbols
	}
	if got := symbols(); len(got) != 1 {
		t.Errorf("after a refused import: %v", got)
	}
	// Given in the environment, the other key stops the command at start.
	t.Setenv("TRUSTID_SYMBOL_KEY", hexKey(9))
	t.Setenv("TRUSTID_SYMBOL_KEY_VERSION", "1")
	if _, err := run("", "id", "derive", "11010519491231002X"); err == nil || !strings.Contains(err.Error(), "TRUSTID_SYMBOL_KEY: ") ||
		!strings.Contains(err.Error(), "symbol version 1") {
		t.Errorf("TRUSTID_SYMBOL_KEY with another key under the removed version: %v", err)
	}
	// The key removed restores the version (removed by mistake): version 1
	// symbols derive as before.
	t.Setenv("TRUSTID_SYMBOL_KEY", "")
	if _, err := run(hexKey(7), "id", "import-key", "--version", "1", "--file", "-"); err != nil {
		t.Fatalf("restore the removed key: %v", err)
	}
	old, _ := identity.NewDeriver(identity.VersionedKey{Version: 1, Secret: bytes.Repeat([]byte{7}, 32)})
	doc, _ := identity.Parse("11010519491231002X")
	oldSym, _ := old.Derive(doc)
	if got := symbols(); len(got) != 2 || got[1].(map[string]any)["symbol"] != oldSym.Text() {
		t.Errorf("after the restore: %v, want version 1 %s", got, oldSym.Text())
	}
}

func TestIDDeriveBatch(t *testing.T) {
	t.Setenv("TRUSTID_KEK", "00112233445566778899aabbccddeeff")
	key := bytes.Repeat([]byte{9}, 32)
	t.Setenv("TRUSTID_SYMBOL_KEY", hex.EncodeToString(key))
	t.Setenv("TRUSTID_SYMBOL_KEY_VERSION", "1")
	d, _ := identity.NewDeriver(identity.VersionedKey{Version: 1, Secret: key})
	dir := t.TempDir()

	// Valid lines of every kind, invalid lines, CRLF, blank lines, spaces,
	// an over-long line, and no newline at the end.
	lines := []string{
		"11010519491231002X", "110105194912310021", "", "11010519491231002x\r", "  110105491231002  ",
		"810000199408230021", "KAZ110090123105", strings.Repeat("1", 300), "abc", withCheckChar("11010519490230002"),
		withCheckChar("44030519900101123"),
	}
	input := strings.Join(lines, "\n")
	inFile := filepath.Join(dir, "in.txt")
	os.WriteFile(inFile, []byte(input), 0o600)
	expect := func(lines []string) string {
		var b strings.Builder
		for _, l := range lines {
			s, err := d.DeriveInput(nil, []byte(l))
			if err != nil {
				code, _ := identity.CodeOf(err)
				b.WriteString("!" + string(code) + "\n")
				continue
			}
			b.WriteString(s.Text() + "\n")
		}
		return b.String()
	}
	want := expect(lines)
	if strings.Count(want, "!") != 5 {
		t.Fatalf("expected 5 invalid lines:\n%s", want)
	}
	for _, workers := range []string{"1", "3"} {
		out, errOut, err := runWithStdin(t, "", "id", "derive-batch", "--in", inFile, "--workers", workers, "--data", dir)
		if exitStatusOf(err) != exitInvalidLines {
			t.Fatalf("status %d: %v\n%s", exitStatusOf(err), err, errOut)
		}
		if out != want {
			t.Errorf("workers %s: got\n%s\nwant\n%s", workers, out, want)
		}
		if !strings.Contains(errOut, "derive-batch: 11 lines, 5 invalid") {
			t.Errorf("stderr: %s", errOut)
		}
		for _, l := range lines {
			if len(l) >= 15 && l != strings.Repeat("1", 300) && strings.Contains(out+errOut, strings.TrimSpace(l)) {
				t.Errorf("output shows input %q", l)
			}
		}
	}
	// From standard input to a file; all valid: status 0.
	outFile := filepath.Join(dir, "out.txt")
	valid := []string{"11010519491231002X", "110105491231002"}
	_, errOut, err := runWithStdin(t, strings.Join(valid, "\n")+"\n", "id", "derive-batch", "--out", outFile, "--data", dir)
	if err != nil {
		t.Fatalf("%v %s", err, errOut)
	}
	got, _ := os.ReadFile(outFile)
	if string(got) != expect(valid) {
		t.Errorf("file output %q", got)
	}
	if st, _ := os.Stat(outFile); st.Mode().Perm() != 0o600 {
		t.Errorf("output mode %v", st.Mode())
	}
	// Empty input: no lines.
	out, _, err := runWithStdin(t, "", "id", "derive-batch", "--data", dir)
	if err != nil || out != "" {
		t.Errorf("empty input: %v %q", err, out)
	}
	if _, _, err := runWithStdin(t, "", "id", "derive-batch", "--in", filepath.Join(dir, "missing"), "--data", dir); err == nil {
		t.Error("missing input file")
	}
}

// TestIDDeriveBatchChunks sends more than one chunk, with a line longer
// than a chunk in the middle, and checks order and alignment.
// TestIDDeriveBatchSameFile: --out naming the --in file (the same path or
// a link to it) is refused, the file unchanged: it would be truncated
// before it is read.
func TestIDDeriveBatchSameFile(t *testing.T) {
	t.Setenv("TRUSTID_KEK", "00112233445566778899aabbccddeeff")
	dir := t.TempDir()
	in := filepath.Join(dir, "ids.txt")
	content := []byte("11010519491231002X\n")
	if err := os.WriteFile(in, content, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.txt")
	if err := os.Symlink(in, link); err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{in, link} {
		_, errOut, code := cliExec(t, "", "id", "derive-batch", "--data", filepath.Join(dir, "data"), "--in", in, "--out", out)
		if code == 0 || !strings.Contains(errOut, "--out") {
			t.Errorf("--out %s: exit %d: %s", out, code, errOut)
		}
		if now, _ := os.ReadFile(in); !bytes.Equal(now, content) {
			t.Fatalf("--out %s: the input file changed: %q", out, now)
		}
	}
}

func TestIDDeriveBatchChunks(t *testing.T) {
	t.Setenv("TRUSTID_KEK", "00112233445566778899aabbccddeeff")
	key := bytes.Repeat([]byte{9}, 32)
	t.Setenv("TRUSTID_SYMBOL_KEY", hex.EncodeToString(key))
	t.Setenv("TRUSTID_SYMBOL_KEY_VERSION", "1")
	d, _ := identity.NewDeriver(identity.VersionedKey{Version: 1, Secret: key})
	dir := t.TempDir()
	var in bytes.Buffer
	var lines []string
	for i := 0; i < 150000; i++ {
		body := fmt.Sprintf("310104%04d0101%03d", 1950+i%60, i%1000)
		l := withCheckChar(body)
		if i%1000 == 7 {
			l = l[:17] + "Z" // invalid character
		}
		lines = append(lines, l)
		if i == 70000 {
			lines = append(lines, strings.Repeat("9", idBatchChunk+12345))
		}
	}
	for _, l := range lines {
		in.WriteString(l)
		in.WriteByte('\n')
	}
	inFile := filepath.Join(dir, "in.txt")
	os.WriteFile(inFile, in.Bytes(), 0o600)
	out, errOut, err := runWithStdin(t, "", "id", "derive-batch", "--in", inFile, "--workers", "2", "--data", dir)
	if exitStatusOf(err) != exitInvalidLines {
		t.Fatalf("%v %s", err, errOut)
	}
	got := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(got) != len(lines) {
		t.Fatalf("%d output lines for %d input lines", len(got), len(lines))
	}
	bad := 0
	for i, l := range lines {
		s, err := d.DeriveInput(nil, []byte(l))
		want := s.Text()
		if err != nil {
			code, _ := identity.CodeOf(err)
			want = "!" + string(code)
			bad++
		}
		if got[i] != want {
			t.Fatalf("line %d: %q, want %q", i+1, got[i], want)
		}
	}
	if !strings.Contains(errOut, fmt.Sprintf("%d lines, %d invalid", len(lines), bad)) {
		t.Errorf("stderr %s", errOut)
	}
}

// TestTerminalsCLI: `trustid terminals` writes to the ledger through the
// admin socket of the node serving on --data, and opens the ledger file
// itself once no node runs.
func TestTerminalsCLI(t *testing.T) {
	n := startAuthNode(t)
	dir := n.dir
	pemFile := filepath.Join(dir, "t1.pem")
	pub := testTerminalKeyPEM(t)
	os.WriteFile(pemFile, pub, 0o600)
	out, _, err := runWithStdin(t, "", "terminals", "add", "--id", "counter-1", "--name", "徐汇 counter 1", "--region", "310104", "--public-key", pemFile, "--data", dir)
	if err != nil || !strings.Contains(out, "registered terminal counter-1 (SM2, region 310104)") {
		t.Fatalf("add: %v %s", err, out)
	}
	if !strings.Contains(n.logs.String(), "registry change through the admin socket") {
		t.Errorf("the write did not go through the node's admin socket")
	}
	if _, _, err := runWithStdin(t, "", "terminals", "add", "--name", "again", "--region", "310104", "--public-key", pemFile, "--data", dir); err == nil || !strings.Contains(err.Error(), "already registered") {
		t.Errorf("same key twice: %v", err)
	}
	for _, args := range [][]string{
		{"--name", "x", "--region", "310104"},
		{"--name", "x", "--region", "999999", "--public-key", pemFile},
		{"--name", "", "--region", "310104", "--public-key", pemFile},
		{"--name", "x", "--region", "310104", "--public-key", filepath.Join(dir, "missing.pem")},
	} {
		if _, _, err := runWithStdin(t, "", append([]string{"terminals", "add", "--data", dir}, args...)...); err == nil {
			t.Errorf("add %v accepted", args)
		}
	}
	out, _, err = runWithStdin(t, "", "terminals", "list", "--data", dir)
	if err != nil || !strings.Contains(out, "counter-1") || !strings.Contains(out, "active") {
		t.Errorf("list: %v %s", err, out)
	}
	if _, _, err := runWithStdin(t, "", "terminals", "revoke", "counter-1", "--data", dir); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runWithStdin(t, "", "terminals", "revoke", "counter-1", "--data", dir); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Errorf("revoke twice: %v", err)
	}
	if _, _, err := runWithStdin(t, "", "terminals", "revoke", "nope", "--data", dir); err == nil || !strings.Contains(err.Error(), "unknown") {
		t.Errorf("revoke unknown: %v", err)
	}
	// With the node stopped, the CLI reads the ledger file itself.
	n.stop()
	out, _, err = runWithStdin(t, "", "terminals", "list", "--json", "--data", dir)
	var list []map[string]string
	if err != nil || json.Unmarshal([]byte(out), &list) != nil || len(list) != 1 || list[0]["state"] != "revoked" || list[0]["revoked"] == "" || list[0]["alg"] != "SM2" || list[0]["region"] != "310104" {
		t.Errorf("list --json: %v %s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, terminalsFile)); !errors.Is(err, os.ErrNotExist) {
		t.Error("a terminals.json was written")
	}
	// A data directory without a ledger is not an empty ledger: the
	// command says so (TestLedgerCommandsNeedALedger).
	if _, _, err = runWithStdin(t, "", "terminals", "list", "--data", t.TempDir()); err == nil || !strings.Contains(err.Error(), "no embedded ledger at ") {
		t.Errorf("list without a ledger: %v", err)
	}
}

func testTerminalKeyPEM(t *testing.T) []byte {
	t.Helper()
	k, err := gm.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := gm.MarshalPublicKeyPEM(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return pem
}

// BenchmarkDeriveBatch runs the derive-batch pipeline (reader, workers,
// ordered writer) over 200,000 synthetic lines held in memory; ns/op is
// per line. The end-to-end figure for a 10-million-line file is in
// docs/BENCHMARKS.md.
func BenchmarkDeriveBatch(b *testing.B) {
	d, _ := identity.NewDeriver(identity.VersionedKey{Version: 1, Secret: bytes.Repeat([]byte{9}, 32)})
	var in bytes.Buffer
	const n = 200000
	for i := 0; i < n; i++ {
		in.WriteString(withCheckChar(fmt.Sprintf("310104%04d%02d%02d%03d", 1930+i%90, 1+i%12, 1+i%28, i%1000)))
		in.WriteByte('\n')
	}
	cmd := newIDDeriveBatchCmd()
	cmd.SetContext(context.Background())
	bt := &idBatch{deriver: d, workers: 2} // one run's pools, as in the command
	b.SetBytes(int64(in.Len()) / n)
	b.ResetTimer()
	for i := 0; i < b.N; i += n {
		bt.linesDone.Store(0)
		if err := bt.run(cmd, bytes.NewReader(in.Bytes()), io.Discard); err != nil {
			b.Fatal(err)
		}
		if bt.linesDone.Load() != n || bt.bad.Load() != 0 {
			b.Fatalf("%d lines, %d bad", bt.linesDone.Load(), bt.bad.Load())
		}
	}
}

// TestNodeSecrets: the pairwise deriver and the PIN sealer built from two
// keystores that imported the same keys agree; PIN keys of a region are
// generated with the right sizes when absent.
func TestNodeSecrets(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	pairwise := bytes.Repeat([]byte{3}, 32)
	t.Setenv("TRUSTID_PAIRWISE_KEY", hex.EncodeToString(pairwise))
	t.Setenv("TRUSTID_PAIRWISE_KEY_VERSION", "1")
	t.Setenv("TRUSTID_PIN_MAC_KEY", hex.EncodeToString(bytes.Repeat([]byte{4}, 32)))
	t.Setenv("TRUSTID_PIN_MAC_KEY_VERSION", "1")
	t.Setenv("TRUSTID_PIN_SEAL_KEY", hex.EncodeToString(bytes.Repeat([]byte{5}, 16)))
	t.Setenv("TRUSTID_PIN_SEAL_KEY_VERSION", "1")
	open := func(kek byte) *keystore.Store {
		ks, err := keystore.Open(filepath.Join(t.TempDir(), keystoreFile), bytes.Repeat([]byte{kek}, 16), keystore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return ks
	}
	sym, _ := identity.ParseSymbol("1WCQCDVTPR5SN776D4SFAEKSE1BT62YYT3")
	var ids []string
	var sealers []*identity.PINSealer
	for _, kek := range []byte{1, 2} {
		ks := open(kek)
		p, err := newPairwiseDeriver(ks, log)
		if err != nil {
			t.Fatal(err)
		}
		id, _ := p.Derive(sym, identity.Sector{Kind: identity.SectorIdentifier, Name: "rp.example"})
		ids = append(ids, id.Text())
		s, err := newPINSealer(ks, log)
		if err != nil {
			t.Fatal(err)
		}
		sealers = append(sealers, s)
	}
	if ids[0] != ids[1] {
		t.Error("two nodes with one pairwise key disagree")
	}
	sealed, _ := sealers[0].SealPIN("135790", []byte("b"))
	if err := sealers[1].CheckPIN(sealed, "135790", []byte("b")); err != nil {
		t.Errorf("another instance cannot check the PIN: %v", err)
	}
	// Without the environment, a keystore gets its own keys of the right
	// sizes (16 bytes for the SM4 sealing key).
	for _, name := range []string{"TRUSTID_PAIRWISE_KEY", "TRUSTID_PIN_MAC_KEY", "TRUSTID_PIN_SEAL_KEY"} {
		t.Setenv(name, "")
	}
	ks := open(3)
	if _, err := newPINSealer(ks, log); err != nil {
		t.Fatal(err)
	}
	if sec, err := ks.SecretVersion("pin-seal", 1); err != nil || len(sec.Value()) != 16 {
		t.Errorf("pin-seal: %v", err)
	}
	t.Setenv("TRUSTID_PIN_SEAL_KEY", hex.EncodeToString(bytes.Repeat([]byte{5}, 32)))
	t.Setenv("TRUSTID_PIN_SEAL_KEY_VERSION", "2")
	if _, err := newPINSealer(ks, log); err == nil || !strings.Contains(err.Error(), "16 bytes") {
		t.Errorf("32-byte pin-seal key: %v", err)
	}
}

// TestDeriveBatchProgress: derive-batch's progress line (drawn here as on
// a terminal) counts lines, shows the share of a file of known size with
// a bar, only the count and rate when the size is unknown (standard
// input), and is erased at the end; nothing is drawn off a terminal.
func TestDeriveBatchProgress(t *testing.T) {
	var lines, read atomic.Int64
	var line bytes.Buffer
	l := startBatchProgress(&line, progress.Options{Unit: "lines", Terminal: true, Interval: time.Hour}, &lines, &read, 1000)
	lines.Store(120)
	read.Store(250)
	line.Reset()
	l.Draw()
	if got := line.String(); !strings.Contains(got, "25.0%") || !strings.Contains(got, "120 lines") || !strings.Contains(got, "[#") {
		t.Errorf("a quarter of a file read: %q", got)
	}
	l.Stop()
	if !strings.HasSuffix(line.String(), "\r\033[K") {
		t.Errorf("Stop did not erase the line: %q", line.String())
	}

	line.Reset()
	l = startBatchProgress(&line, progress.Options{Unit: "lines", Terminal: true, Interval: time.Hour}, &lines, &read, 0)
	line.Reset()
	l.Draw()
	if got := line.String(); !strings.Contains(got, "120 lines") || strings.Contains(got, "%") {
		t.Errorf("standard input (size unknown): %q, want a count and no share", got)
	}
	l.Stop()

	var quiet bytes.Buffer
	l = startBatchProgress(&quiet, progress.Options{Unit: "lines", Interval: time.Millisecond}, &lines, &read, 1000)
	time.Sleep(20 * time.Millisecond)
	l.Stop()
	if quiet.Len() != 0 {
		t.Errorf("drew on a non-terminal: %q", quiet.String())
	}
}
