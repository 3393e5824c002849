package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/leakcheck"
	"github.com/trustid-cn/trustid/internal/testnode"
	"github.com/trustid-cn/trustid/keystore"
)

// kekID is the KEK ID of a KEK in hex.
func kekID(t *testing.T, kek string) string {
	t.Helper()
	b, err := keystore.ParseKEK(kek)
	if err != nil {
		t.Fatal(err)
	}
	return keystore.KEKID(b)
}

// keyMaterial lists what the keystore in dir must never show: every
// private key and the store key, raw (leakcheck finds them encoded).
func keyMaterial(t *testing.T, dir, kek string) []string {
	t.Helper()
	b, _ := keystore.ParseKEK(kek)
	ks, err := keystore.Open(filepath.Join(dir, keystoreFile), b, keystore.Options{Rand: failingReader{}})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range ks.Keys() {
		der, err := gm.MarshalPrivateKey(k.Signer)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(der))
	}
	sec, err := ks.SecretVersion(storeKeySecret, 1)
	if err != nil {
		t.Fatal(err)
	}
	return append(out, string(sec.Value()))
}

// TestKeysRotateKEK: `trustid keys rotate-kek` end to end. It refuses
// while a node runs on the data directory, without TRUSTID_NEW_KEK, with
// a malformed one, with the current KEK again, with a wrong TRUSTID_KEK,
// and with a KEK given as an argument or a flag, each time with exit
// status 1, a message that says why, and the file unchanged; then it
// re-seals: the keys are the same, the old KEK is refused with both KEK
// IDs named, the new one opens the keystore. No KEK and no key is in any
// output.
func TestKeysRotateKEK(t *testing.T) {
	n := startAuthNode(t) // makes the keystore and its secrets under testKEK
	dir, path := n.dir, filepath.Join(n.dir, keystoreFile)
	newKEK, wrongKEK := "5c0ffee15600d5eedfeedfacecafe000", "0123456789abcdef0123456789abcdef"
	oldID, newID := kekID(t, testKEK), kekID(t, newKEK)
	keysBefore := mustRun(t, "keys", "list", "--data", dir)
	raw, _ := os.ReadFile(path)
	var outputs bytes.Buffer
	rotate := func(env map[string]string, args ...string) (string, int) {
		t.Helper()
		t.Setenv("TRUSTID_KEK", testKEK)
		t.Setenv("TRUSTID_NEW_KEK", newKEK)
		for k, v := range env {
			t.Setenv(k, v)
		}
		out, errOut, code := cliExec(t, "", append([]string{"keys", "rotate-kek", "--data", dir}, args...)...)
		outputs.WriteString(out + errOut)
		return out + errOut, code
	}
	refused := func(name, out string, code int, says ...string) {
		t.Helper()
		if code != 1 {
			t.Errorf("%s: exit %d, want 1:\n%s", name, code, out)
		}
		for _, s := range says {
			if !strings.Contains(out, s) {
				t.Errorf("%s: the output does not say %q:\n%s", name, s, out)
			}
		}
		if now, _ := os.ReadFile(path); !bytes.Equal(raw, now) {
			t.Fatalf("%s: the keystore changed", name)
		}
	}

	out, code := rotate(nil)
	refused("node running", out, code, "a node is running on "+dir, "stop it first", "Nothing was changed")
	n.stop()

	out, code = rotate(map[string]string{"TRUSTID_NEW_KEK": ""})
	refused("no new KEK", out, code, "TRUSTID_NEW_KEK is not set")
	out, code = rotate(map[string]string{"TRUSTID_NEW_KEK": newKEK[:30]})
	refused("malformed new KEK", out, code, "TRUSTID_NEW_KEK: ", "16 bytes (32 hex digits)")
	out, code = rotate(map[string]string{"TRUSTID_NEW_KEK": strings.ToUpper(testKEK)})
	refused("same KEK", out, code, "TRUSTID_NEW_KEK is the key-encryption key that already seals", oldID)
	out, code = rotate(map[string]string{"TRUSTID_KEK": wrongKEK})
	refused("wrong old KEK", out, code, "wrong key-encryption key for "+path, oldID, kekID(t, wrongKEK), "Set TRUSTID_KEK")
	out, code = rotate(map[string]string{"TRUSTID_KEK": "not-a-kek"})
	refused("malformed old KEK", out, code, "TRUSTID_KEK: ", "32 hex digits")
	out, code = rotate(nil, newKEK)
	refused("KEK as an argument", out, code, "takes no arguments", "TRUSTID_NEW_KEK")
	for _, flag := range []string{"--new-kek=" + newKEK, "-k" + newKEK} {
		out, code = rotate(nil, flag)
		refused(flag[:3], out, code, "not repeated here")
	}
	if _, err := os.Stat(filepath.Join(dir, devKEKFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a development KEK was made: %v", err)
	}

	out, code = rotate(nil)
	if code != 0 || !strings.Contains(out, "re-sealed "+path) || !strings.Contains(out, newID) || !strings.Contains(out, oldID) {
		t.Fatalf("rotate-kek: exit %d\n%s", code, out)
	}
	t.Setenv("TRUSTID_KEK", newKEK)
	if got := mustRun(t, "keys", "list", "--data", dir); got != keysBefore {
		t.Errorf("keys after rotate-kek:\n%s\nbefore:\n%s", got, keysBefore)
	}
	material := keyMaterial(t, dir, newKEK)
	t.Setenv("TRUSTID_KEK", testKEK)
	_, _, err := run(t, context.Background(), "keys", "list", "--data", dir)
	if !errors.Is(err, keystore.ErrWrongKEK) || !strings.Contains(err.Error(), "sealed under KEK ID "+newID+", TRUSTID_KEK has KEK ID "+oldID) {
		t.Errorf("the old KEK after rotate-kek: %v", err)
	}

	// Run again, as after a crash that came after the rename: done already.
	raw, _ = os.ReadFile(path)
	out, code = rotate(nil)
	refused("again", out, code, "already sealed under TRUSTID_NEW_KEK", newID)

	// And back, with -o json.
	out, code = rotate(map[string]string{"TRUSTID_KEK": newKEK, "TRUSTID_NEW_KEK": testKEK}, "-o", "json")
	var res kekRotation
	if code != 0 {
		t.Fatalf("rotate-kek -o json: exit %d\n%s", code, out)
	}
	decodeOne(t, "keys rotate-kek", out, &res, true)
	if res != (kekRotation{Keystore: path, OldKEKID: newID, NewKEKID: oldID}) {
		t.Errorf("rotate-kek -o json: %+v", res)
	}

	kek := func(h string) string { b, _ := hex.DecodeString(h); return string(b) }
	scan := leakcheck.New(t, append(material, kek(testKEK), kek(newKEK), kek(wrongKEK))...)
	scan.PlantLog(&outputs)
	if hits := scan.Log(outputs.Bytes()); len(hits) > 0 {
		t.Errorf("secrets in rotate-kek's output: %v", hits)
	}
	// The KEKs as given (hex text) are found by the scan above too, but
	// say it plainly.
	for _, k := range []string{testKEK, newKEK, wrongKEK} {
		if strings.Contains(strings.ToLower(outputs.String()), k) {
			t.Errorf("a KEK in rotate-kek's output")
		}
	}
}

// TestKeysRotateKEKRegion: a region's rotation as docs/operations.md
// tells it. Instance 1's keystore, copied to instance 2, is re-sealed on
// instance 1 and copied again; instance 2 given the old KEK refuses to
// start, naming both KEK IDs, and starts with the new one, with the same
// keys. It also moves a development KEK to a real one, and refuses a
// missing keystore without making anything.
func TestKeysRotateKEKRegion(t *testing.T) {
	i1, i2 := t.TempDir(), t.TempDir()
	t.Setenv("TRUSTID_KEK", "") // instance 1 began on the development KEK
	mustRun(t, "keys", "list", "--data", i1)
	devKEK, err := os.ReadFile(filepath.Join(i1, devKEKFile))
	if err != nil {
		t.Fatal(err)
	}
	copyKeystore := func() {
		raw, err := os.ReadFile(filepath.Join(i1, keystoreFile))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(i2, keystoreFile), raw, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	const kek1, kek2 = "00112233445566778899aabbccddeeff", "8899aabbccddeeff0011223344556677"
	t.Setenv("TRUSTID_NEW_KEK", kek1)
	out := mustRun(t, "keys", "rotate-kek", "--data", i1)
	if !strings.Contains(out, "the development KEK in "+filepath.Join(i1, devKEKFile)) {
		t.Errorf("rotate-kek from the development KEK:\n%s", out)
	}
	copyKeystore()
	t.Setenv("TRUSTID_KEK", kek1)
	keys := mustRun(t, "keys", "list", "--data", i2)

	// The rotation: re-seal one copy, copy it, restart each instance.
	t.Setenv("TRUSTID_NEW_KEK", kek2)
	mustRun(t, "keys", "rotate-kek", "--data", i1)
	copyKeystore()
	_, _, err = run(t, context.Background(), "serve", "--data", i2, "--addr", "127.0.0.1:0")
	if !errors.Is(err, keystore.ErrWrongKEK) || !strings.Contains(err.Error(), "sealed under KEK ID "+kekID(t, kek2)+", TRUSTID_KEK has KEK ID "+kekID(t, kek1)) ||
		!strings.Contains(err.Error(), "trustid keys rotate-kek") {
		t.Errorf("instance 2 with the old KEK: %v", err)
	}
	t.Setenv("TRUSTID_KEK", kek2)
	if got := mustRun(t, "keys", "list", "--data", i2); got != keys {
		t.Errorf("instance 2's keys after the rotation:\n%s\nbefore:\n%s", got, keys)
	}
	node := testnode.Start(t, serveMain, "--data", i2, "--addr", "127.0.0.1:0")
	if code, _ := get(t, node.Base+"/healthz"); code != 200 {
		t.Errorf("instance 2 with the new KEK: healthz %d", code)
	}
	node.Stop()
	if strings.Contains(node.Logs.String(), "development key-encryption key") {
		t.Error("instance 2 warns of a development KEK")
	}

	// The development KEK no longer opens instance 1's keystore.
	t.Setenv("TRUSTID_KEK", "")
	_, _, err = run(t, context.Background(), "keys", "list", "--data", i1)
	if !errors.Is(err, keystore.ErrWrongKEK) || !strings.Contains(err.Error(), "the development KEK in") || strings.Contains(err.Error(), strings.TrimSpace(string(devKEK))) {
		t.Errorf("the development KEK after rotate-kek: %v", err)
	}

	empty := t.TempDir()
	t.Setenv("TRUSTID_KEK", kek1)
	_, errOut, code := cliExec(t, "", "keys", "rotate-kek", "--data", filepath.Join(empty, "data"))
	if code != 1 || !strings.Contains(errOut, "no keystore to re-seal") {
		t.Errorf("rotate-kek without a keystore: exit %d %s", code, errOut)
	}
	if entries, _ := os.ReadDir(empty); len(entries) != 0 {
		t.Errorf("rotate-kek without a keystore made %v", entries)
	}
}

// TestBadGlobalFlagValues: a bad --log-level, --log-format or --output
// stops every command before it does anything, even one that logs
// nothing; rotate-kek does not repeat the value, where a KEK may have
// been put, and leaves the keystore as it was.
func TestBadGlobalFlagValues(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TRUSTID_KEK", testKEK)
	t.Setenv("TRUSTID_NEW_KEK", "5c0ffee15600d5eedfeedfacecafe000")
	mustRun(t, "keys", "list", "--data", dir)
	path := filepath.Join(dir, keystoreFile)
	raw, _ := os.ReadFile(path)
	const secret = "0123456789abcdef0123456789abcdef"
	for _, flag := range []string{"--log-level=" + secret, "--log-format=" + secret, "--output=" + secret, "-o" + secret} {
		out, errOut, code := cliExec(t, "", "keys", "rotate-kek", "--data", dir, flag)
		if code != 1 || strings.Contains(out+errOut, secret) || !strings.Contains(errOut, "not repeated here") {
			t.Errorf("rotate-kek %s: exit %d:\n%s%s", flag[:5], code, out, errOut)
		}
		if now, _ := os.ReadFile(path); !bytes.Equal(raw, now) {
			t.Fatalf("rotate-kek %s: the keystore changed", flag[:5])
		}
	}
	for _, args := range [][]string{{"--log-level", "loud"}, {"--log-format", "xml"}} {
		out, errOut, code := cliExec(t, "", append([]string{"id", "validate", "11010519491231002X"}, args...)...)
		if code == 0 || !strings.Contains(errOut, args[0]) || out != "" {
			t.Errorf("id validate %v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
	}
}
