package main

import (
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/trustid-cn/trustid/keystore"
)

func newKeysCmd() *cobra.Command {
	keys := &cobra.Command{Use: "keys", Short: "List and rotate the node's signing keys"}
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
	return keys
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
