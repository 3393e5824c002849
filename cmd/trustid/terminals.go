package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/identity"
)

// terminalsFile is the terminal registry in the data directory.
const terminalsFile = "terminals.json"

// openTerminals opens the registry in --data.
func openTerminals(cmd *cobra.Command, create bool) (*identity.TerminalFile, error) {
	dir := dataDir(cmd)
	if create {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("data directory: %w", err)
		}
	}
	return identity.OpenTerminalFile(filepath.Join(dir, terminalsFile))
}

func newTerminalsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "terminals",
		Short: "Manage the registry of accredited verification terminals",
		Long: `Manage the registry of accredited verification terminals: the counter
devices and kiosks whose signed attestations (face match, ID card chip
read) raise an enrollment to assurance level L4. The registry is
terminals.json in --data; a running node sees changes at once.`,
	}
	add := &cobra.Command{
		Use:   "add",
		Short: "Register a terminal from its public key (PEM, SM2 or P-256)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			id, _ := f.GetString("id")
			name, _ := f.GetString("name")
			region, _ := f.GetString("region")
			keyFile, _ := f.GetString("public-key")
			if keyFile == "" {
				return errors.New("--public-key is required")
			}
			pem, err := readLimitedFile(keyFile, 64<<10)
			if err != nil {
				return fmt.Errorf("--public-key: %w", err)
			}
			pub, err := gm.ParsePublicKeyPEM(pem)
			if err != nil {
				return fmt.Errorf("--public-key: %w", err)
			}
			t, err := identity.NewTerminal(id, name, region, pub, time.Now())
			if err != nil {
				return err
			}
			reg, err := openTerminals(cmd, true)
			if err != nil {
				return err
			}
			if err := reg.Add(cmd.Context(), t); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "registered terminal %s (%s, region %s)\n", t.ID, t.Alg(), t.Region)
			return nil
		},
	}
	af := add.Flags()
	af.String("id", "", "terminal ID (default: t- and the start of the key's thumbprint)")
	af.String("name", "", "description, e.g. the service centre and counter")
	af.String("region", "", "GB/T 2260 code of where the terminal is installed, e.g. 310104 (like any flag, also read from TRUSTID_REGION or the config file)")
	af.String("public-key", "", "PEM file with the terminal's public key (SM2 or P-256)")

	list := &cobra.Command{
		Use:   "list",
		Short: "List registered terminals",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			reg, err := openTerminals(cmd, false)
			if err != nil {
				return err
			}
			ts, err := reg.List(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
				type termJSON struct {
					ID      string `json:"id"`
					Name    string `json:"name"`
					Region  string `json:"region"`
					Alg     string `json:"alg"`
					State   string `json:"state"`
					Created string `json:"created"`
					Revoked string `json:"revoked,omitempty"`
				}
				out := make([]termJSON, 0, len(ts))
				for _, t := range ts {
					tj := termJSON{ID: t.ID, Name: t.Name, Region: t.Region, Alg: t.Alg(), State: string(t.State), Created: day(t.Created)}
					if !t.Revoked.IsZero() {
						tj.Revoked = day(t.Revoked)
					}
					out = append(out, tj)
				}
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetEscapeHTML(false)
				return enc.Encode(out)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tNAME\tREGION\tALG\tSTATE\tCREATED\tREVOKED")
			for _, t := range ts {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Region, t.Alg(), t.State, day(t.Created), day(t.Revoked))
			}
			return w.Flush()
		},
	}
	list.Flags().Bool("json", false, "print JSON")

	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a terminal: its attestations are refused from now on",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			reg, err := openTerminals(cmd, false)
			if err != nil {
				return err
			}
			if err := reg.Revoke(cmd.Context(), args[0], time.Now()); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked terminal %s\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(add, list, revoke)
	return cmd
}
