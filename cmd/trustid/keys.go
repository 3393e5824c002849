package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/trustid-cn/trustid/internal/filelock"
	"github.com/trustid-cn/trustid/keystore"
)

func newKeysCmd() *cobra.Command {
	keys := &cobra.Command{Use: "keys", Short: "List and rotate the node's signing keys and the keystore's KEK"}
	keys.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List signing keys with their kid, algorithm, state and dates",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ks, err := keysOpen(cmd)
			if err != nil {
				return err
			}
			if jsonOutput(cmd) {
				out := []keyJSON{}
				for _, k := range ks.Keys() {
					out = append(out, keyJSON{Kid: k.Kid, Alg: k.Alg, State: k.State, Created: rfc3339(k.Created), Retiring: rfc3339(k.Retiring), Retired: rfc3339(k.Retired)})
				}
				return writeJSON(cmd.OutOrStdout(), out)
			}
			var t table
			t.row("KID", "ALG", "STATE", "CREATED", "RETIRING", "RETIRED")
			for _, k := range ks.Keys() {
				t.row(k.Kid, k.Alg, k.State, day(k.Created), day(k.Retiring), day(k.Retired))
			}
			return t.write(cmd.OutOrStdout())
		},
	})
	keys.AddCommand(&cobra.Command{
		Use:   "rotate ALG",
		Short: "Make a new active key for ALG (SM2, ES256 or EdDSA); the old one becomes retiring",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !slices.Contains(keystore.Algorithms, args[0]) {
				return fmt.Errorf("unknown algorithm %q (want one of %v)", args[0], keystore.Algorithms)
			}
			ks, err := keysOpen(cmd)
			if err != nil {
				return err
			}
			k, err := ks.Rotate(args[0])
			if err != nil {
				return err
			}
			return printResult(cmd, keyJSON{Kid: k.Kid, Alg: k.Alg, State: k.State}, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "new active %s key %s\nsend SIGHUP to a running `trustid serve` (or restart it) to start signing with it\n", k.Alg, k.Kid)
				return err
			})
		},
	})
	keys.AddCommand(&cobra.Command{
		Use:   "retire KID",
		Short: "Stop a retiring key from verifying and destroy its private half",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ks, err := keysOpen(cmd)
			if err != nil {
				return err
			}
			if err := ks.Retire(args[0]); err != nil {
				return err
			}
			return printResult(cmd, keyJSON{Kid: args[0], State: keystore.StateRetired}, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "retired %s\n", args[0])
				return err
			})
		},
	})
	rotateKEK := &cobra.Command{
		Use:   "rotate-kek",
		Short: "Re-seal the keystore under the key-encryption key in TRUSTID_NEW_KEK",
		Long: `Re-seal the keystore in --data under a new key-encryption key (KEK): the
same keys and secrets, sealed under the KEK in TRUSTID_NEW_KEK (32 hex
digits). The current KEK is the one the node would use: TRUSTID_KEK, else
the development KEK file in --data. Neither KEK is ever a flag or an
argument: a command line is visible to other users and kept in shell
history.

Stop the node first: the command refuses while one runs on --data. The
re-sealed file is checked against the original, key by key, before it
replaces it atomically; a crash leaves the old file or the new one. Then
start the node with TRUSTID_KEK set to the new KEK, and give the region's
other instances a copy of this keystore.json (docs/operations.md).`,
		Args: noKEKArgs,
		RunE: runRotateKEK,
	}
	rotateKEK.SetFlagErrorFunc(flagErrorNoValues)
	keys.AddCommand(rotateKEK)
	return keys
}

// kekRotation is what `keys rotate-kek` prints with -o json.
type kekRotation struct {
	Keystore string `json:"keystore"`
	OldKEKID string `json:"old_kek_id"`
	NewKEKID string `json:"new_kek_id"`
}

// runRotateKEK re-seals the keystore in --data under TRUSTID_NEW_KEK.
func runRotateKEK(cmd *cobra.Command, _ []string) error {
	dir := dataDir(cmd)
	path, devPath := filepath.Join(dir, keystoreFile), filepath.Join(dir, devKEKFile)
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("no keystore to re-seal (--data, TRUSTID_DATA): %w", err)
	}
	value := os.Getenv("TRUSTID_NEW_KEK")
	if value == "" {
		return errors.New("TRUSTID_NEW_KEK is not set: put the new key-encryption key in it (32 hex digits, from your secret store)")
	}
	newKEK, err := keystore.ParseKEK(value)
	if err != nil {
		return fmt.Errorf("TRUSTID_NEW_KEK: %w", err)
	}
	oldKEK, dev, err := existingKEK(dir)
	if err != nil {
		return err
	}
	// A running node holds its outbox's lock until it exits.
	unlock, err := filelock.TryLock(filepath.Join(dir, outboxFile)+".lock", 0)
	if errors.Is(err, filelock.ErrLocked) {
		return fmt.Errorf("a node is running on %s (it holds %s.lock): stop it first, as it keeps the old KEK until it exits. Nothing was changed", dir, outboxFile)
	}
	if err != nil {
		return err
	}
	defer unlock()
	oldSource := "TRUSTID_KEK"
	if dev {
		oldSource = "the development KEK in " + devPath
	}
	switch err := keystore.Reseal(path, oldKEK, newKEK, rand.Reader); {
	case errors.Is(err, keystore.ErrSameKEK):
		return fmt.Errorf("TRUSTID_NEW_KEK is the key-encryption key that already seals %s (%s, KEK ID %s): nothing to re-seal", path, oldSource, keystore.KEKID(newKEK))
	case errors.Is(err, keystore.ErrWrongKEK):
		if sealed, _ := keystore.SealedKEKID(path); sealed == keystore.KEKID(newKEK) {
			return fmt.Errorf("%s is already sealed under TRUSTID_NEW_KEK (KEK ID %s): nothing was changed. Start the node with TRUSTID_KEK set to that KEK", path, sealed)
		}
		return wrongKEKError(path, devPath, os.Getenv("TRUSTID_KEK"))
	case err != nil:
		return err
	}
	res := kekRotation{Keystore: path, OldKEKID: keystore.KEKID(oldKEK), NewKEKID: keystore.KEKID(newKEK)}
	return printResult(cmd, res, func(w io.Writer) error {
		fmt.Fprintf(w, "re-sealed %s under the KEK in TRUSTID_NEW_KEK (KEK ID %s); the old KEK (%s, KEK ID %s) no longer opens it\n", path, res.NewKEKID, oldSource, res.OldKEKID)
		_, err := fmt.Fprintln(w, "start the node with TRUSTID_KEK set to the new KEK, and copy this keystore.json to the region's other instances (docs/operations.md)")
		return err
	})
}

// noKEKArgs refuses any argument to rotate-kek without repeating it: an
// argument there is most likely a KEK.
func noKEKArgs(_ *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError{errors.New("keys rotate-kek takes no arguments (not repeated here: one may be a key); it reads the KEKs from TRUSTID_KEK and TRUSTID_NEW_KEK only, never from the command line, which other users can see and shell history keeps")}
	}
	return nil
}

// flagErrorNoValues refuses a flag of rotate-kek without repeating the
// command line, where a KEK may have been put (pflag's errors quote
// "-kVALUE" whole, and a refused value).
func flagErrorNoValues(cmd *cobra.Command, _ error) error {
	return usageError{fmt.Errorf("%s: unknown flag or invalid flag value (not repeated here: it may hold a key; the KEKs come from TRUSTID_KEK and TRUSTID_NEW_KEK only); see --help", cmd.CommandPath())}
}

// keyJSON is a key as `keys list -o json` prints it.
type keyJSON struct {
	Kid      string `json:"kid"`
	Alg      string `json:"alg,omitempty"`
	State    string `json:"state"`
	Created  string `json:"created,omitempty"`
	Retiring string `json:"retiring,omitempty"`
	Retired  string `json:"retired,omitempty"`
}

// rfc3339 formats t in UTC, or "" for the zero time.
func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// keysOpen opens the keystore for a keys command, making it, with every
// secret of the node (ensureSecrets), when missing: `trustid keys list`
// makes the keystore the other instances of a region get a copy of.
func keysOpen(cmd *cobra.Command) (*keystore.Store, error) {
	log, err := newLogger(cmd)
	if err != nil {
		return nil, err
	}
	log = log.With(slog.String("cmd", cmd.CommandPath()))
	ks, err := openKeystore(cmd, log)
	if err != nil {
		return nil, err
	}
	if err := ensureSecrets(ks, log); err != nil {
		return nil, err
	}
	return ks, nil
}

func day(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
