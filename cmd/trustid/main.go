// Command trustid is TrustID's one binary: `trustid serve` runs a region
// node; the other subcommands are operator, integrator and holder tools.
//
// Settings come from, highest precedence first: command-line flags,
// environment variables (TRUSTID_ and the flag name in upper case with
// dashes as underscores, e.g. TRUSTID_DATA, TRUSTID_REDIS_URL), a YAML
// config file (--config or TRUSTID_CONFIG; keys are flag names), and the
// built-in defaults. The key-encryption key is read only from the
// environment (TRUSTID_KEK), never from flags or files that may be shared.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "trustid:", err)
		var ec exitCode
		if errors.As(err, &ec) {
			os.Exit(int(ec))
		}
		os.Exit(1)
	}
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
			return applyConfig(cmd)
		},
	}
	addCommonFlags(root)
	root.AddCommand(newServeCmd(), newKeysCmd(), newClientsCmd(), newTokenCmd(), newIDCmd(), newTerminalsCmd(), newQRCmd(), newLedgerCmd(), newVCCmd(), newIssuersCmd(), newWalletCmd(), newHealthcheckCmd())
	return root
}
