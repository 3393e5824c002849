package main

import (
	"fmt"
	"log/slog"
	"slices"
	"text/tabwriter"
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
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "KID\tALG\tSTATE\tCREATED\tRETIRING\tRETIRED")
			for _, k := range ks.Keys() {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", k.Kid, k.Alg, k.State, day(k.Created), day(k.Retiring), day(k.Retired))
			}
			return w.Flush()
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
			fmt.Fprintf(cmd.OutOrStdout(), "new active %s key %s\nsend SIGHUP to a running `trustid serve` (or restart it) to start signing with it\n", k.Alg, k.Kid)
			return nil
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
			fmt.Fprintf(cmd.OutOrStdout(), "retired %s\n", args[0])
			return nil
		},
	})
	return keys
}

func keysOpen(cmd *cobra.Command) (*keystore.Store, error) {
	log, err := newLogger(cmd)
	if err != nil {
		return nil, err
	}
	return openKeystore(cmd, log.With(slog.String("cmd", cmd.CommandPath())))
}

func day(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
