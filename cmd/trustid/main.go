// Command trustid is TrustID's one binary: `trustid serve` runs a region
// node; the other subcommands are operator, integrator and holder tools.
//
// Settings come from, highest precedence first: command-line flags,
// environment variables (TRUSTID_ and the flag name in upper case with
// dashes as underscores, e.g. TRUSTID_DATA, TRUSTID_REDIS_URL), a YAML
// config file (--config or TRUSTID_CONFIG; keys are flag names), and the
// built-in defaults. The key-encryption key is read only from the
// environment (TRUSTID_KEK; the new one of `keys rotate-kek` from
// TRUSTID_NEW_KEK), never from flags or files that may be shared.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	os.Exit(execute(newRootCmd(), os.Args[1:], os.Stdout, os.Stderr))
}

// exitCode is an error that asks for a particular exit status.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "trustid",
		Short:         "TrustID: digital identity symbols, QR identity codes and verifiable credentials",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if err := applyConfig(cmd); err != nil {
				return err
			}
			// Through the command's flag error function: rotate-kek's
			// repeats no value.
			if err := checkFlagValues(cmd); err != nil {
				return cmd.FlagErrorFunc()(cmd, err)
			}
			return nil
		},
	}
	addCommonFlags(root)
	root.AddCommand(newServeCmd(), newKeysCmd(), newClientsCmd(), newTokenCmd(), newIDCmd(), newTerminalsCmd(), newQRCmd(), newLedgerCmd(), newVCCmd(), newIssuersCmd(), newWalletCmd(), newHealthcheckCmd())
	// CLI conveniences over the whole tree (cli.go): --output, examples,
	// completions, help with the ledger flags apart.
	finishCLI(root)
	return root
}
