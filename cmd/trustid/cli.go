package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/keystore"
)

// finishCLI adds what every command shares once the tree is built:
// --output where a command prints data (output.go), the examples of its
// help, shell completions of flag values and arguments, and a help that
// shows the ledger settings apart from the command's own flags.
func finishCLI(root *cobra.Command) {
	addOutputFlags(root)
	walkCommands(root, func(c *cobra.Command) {
		if c.Example == "" {
			c.Example = commandExamples[commandKey(c)]
		}
		if c.Args != nil {
			c.Args = usageArgs(c.Args)
		}
	})
	addCompletions(root)
	root.SetUsageFunc(groupedUsage)
}

// usageArgs is rule, a command's positional arguments, with its refusal
// a usageError, as a refused flag's is: -o json says "usage" for both.
func usageArgs(rule cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		err := rule(cmd, args)
		var ue usageError
		if err == nil || errors.As(err, &ue) {
			return err
		}
		return usageError{err}
	}
}

// commandExamples are the examples of each command's help, by command
// path without "trustid". Every line that runs trustid must parse: a test
// resolves the command and its flags (TestCLIExamples).
var commandExamples = map[string]string{
	"": `  trustid serve                          # a node on embedded defaults
  trustid keys list -o json              # any command that prints data: -o json for scripts
  source <(trustid completion bash)      # shell completion`,

	"serve": `  trustid serve
  trustid serve --data /var/lib/trustid --addr 0.0.0.0:8080 --issuer https://sh.trustid.example --redis-url redis://127.0.0.1:6379/0
  trustid serve --config /etc/trustid/trustid.yaml --instance i1 --fabric-profile /etc/trustid/profile-310000.yaml`,

	"keys list": `  trustid keys list
  trustid keys list --data /var/lib/trustid -o json`,
	"keys rotate": `  trustid keys rotate SM2
  trustid keys rotate ES256 --data /var/lib/trustid`,
	"keys retire": `  trustid keys list -o json            # find the kid of a retiring key
  trustid keys retire 0t5SPmVQ3x1cFZyNsd4IYxO1a6bK0oR2T8LmJgEuP7w
  trustid keys retire -- -89CH5lMuOW6Tau_IctDcz9F8LG9ut-TbFPNHbpsHFk   # a kid that begins with "-"`,
	"keys rotate-kek": `  read -rs TRUSTID_NEW_KEK && export TRUSTID_NEW_KEK   # the new KEK, typed or pasted, not echoed
  trustid keys rotate-kek --data /var/lib/trustid       # TRUSTID_KEK: the current KEK; the node stopped
  trustid keys rotate-kek -o json`,

	"clients add": `  trustid clients add --id rp-zwfw --name "政务服务平台" --scopes credentials:issue,qr:redeem --jwks-file rp-keys/*.jwks.json
  trustid clients add --id rp-basic --name "Legacy portal" --scopes qr:redeem --secret -o json
  trustid clients add --id rp-web --name "Web login" --grant-types authorization_code --redirect-uri https://rp.example/callback --id-token-alg ES256 --jwks-file rp-keys/*.jwks.json`,
	"clients list": `  trustid clients list
  trustid clients list --region 320000 --fabric-profile /etc/trustid/profile-320000.yaml -o json`,
	"clients show": `  trustid clients show rp-zwfw
  trustid clients show rp-zwfw -o json`,
	"clients update": `  trustid clients update rp-zwfw --resource https://zwfw.example.gov.cn/api --resource https://zwfw.example.gov.cn/v2
  trustid clients update rp-zwfw --name "政务服务平台" --scopes qr:redeem --clear claims -o json
  trustid clients update rp-web --redirect-uri https://rp.example/callback --redirect-uri https://rp.example/cb2 --token-alg ES256`,
	"clients rotate-key": `  trustid clients rotate-key rp-zwfw --add-jwks-file rp-keys-new/*.jwks.json   # from trustid clients keygen --out ./rp-keys-new
  trustid clients rotate-key rp-zwfw --retire 0t5SPmVQ3x1cFZyNsd4IYxO1a6bK0oR2T8LmJgEuP7w`,
	"clients disable": `  trustid clients disable rp-zwfw
  trustid clients disable rp-zwfw --data /var/lib/trustid -o json`,
	"clients enable": `  trustid clients enable rp-zwfw`,
	"clients keygen": `  trustid clients keygen --alg SM2 --out ./rp-keys
  trustid clients keygen --alg ES256 --out ./rp-keys -o json`,
	"clients import": `  trustid clients import clients.json
  trustid clients import clients.json --ledger embedded --ledger-file /var/lib/trustid/ledger.db -o json`,
	"clients export": `  trustid clients export > clients.json`,

	"token": `  trustid token --node http://127.0.0.1:8080 --client-id rp-zwfw --key rp-keys/*.key.pem --scope credentials:issue
  trustid token --client-id ops-console --key ops-keys/*.key.pem -o json
  TRUSTID_CLIENT_SECRET=s3cr3t trustid token --client-id rp-basic --scope qr:redeem`,

	"id validate": `  trustid id validate 11010519491231002X
  trustid id validate - --strict -o json < number.txt`,
	"id derive": `  trustid id derive - < number.txt
  trustid id derive 11010519491231002X --all -o json`,
	"id derive-batch": `  trustid id derive-batch --in ids.txt --out symbols.txt
  trustid id derive-batch --in ids.txt --out symbols.txt --workers 2 -o json`,
	"id import-key": `  trustid id import-key --version 1 --file symbol-key.hex
  trustid id import-key --secret-name pairwise --version 1 --file - < pairwise-key.hex`,
	"id remove-key": `  trustid id remove-key --version 1
  trustid id remove-key --secret-name pairwise --version 1 -o json`,

	"terminals add": `  trustid terminals add --region 310104 --name "Xuhui service centre, counter 3" --public-key terminal-03.pub.pem
  trustid terminals add --id t-xh-03 --name "Xuhui counter 3" --region 310104 --public-key terminal-03.pub.pem -o json`,
	"terminals list": `  trustid terminals list
  trustid terminals list -o json`,
	"terminals revoke": `  trustid terminals revoke t-xh-03`,

	"qr show": `  trustid qr show --demo --wallet wallet.json --png code.png --challenge 0a0b0c
  trustid qr show --kind static --text > static.txt
  trustid qr show --wallet wallet.json -o json`,
	"qr verify": `  trustid qr verify --image code.png --challenge 0a0b0c --revoked revoked.txt
  trustid qr verify - --jwks sh-jwks.json --status-node 310000=https://sh.trustid.example < code.txt
  trustid qr verify - --no-status -o json < static.txt`,

	"ledger regions": `  trustid ledger regions
  trustid ledger regions --fabric-profile /etc/trustid/profile-310000.yaml -o json`,
	"ledger proposals":    `  trustid ledger proposals --region 320000`,
	"ledger vote":         `  trustid ledger vote admit 330000 --region 310000`,
	"ledger head":         `  trustid ledger head 310000 1bfa19da8626bd41 --data ./data`,
	"ledger verify":       `  trustid ledger verify --data ./data`,
	"ledger dead-batches": `  trustid ledger dead-batches --data ./data -o json`,
	"ledger audit-verify": `  trustid ledger audit-verify --data ./data
  trustid ledger audit-verify --node-id node-7f3a -o json`,

	"vc issue": `  TRUSTID_ACCESS_TOKEN=$TOKEN trustid vc issue residence.json > issued.json
  trustid vc issue residence.json --format sd-jwt --holder-key holder.pem --raw > res.sd-jwt
  trustid vc issue residence.json --node https://sh.trustid.example --alg ES256 -o json`,
	"vc verify": `  trustid vc verify issued.json
  trustid vc verify pres.txt --presentation --challenge 8d1f2c --domain https://rp.example -o json`,
	"vc status": `  trustid vc status urn:trustid:vc:AQD96nQxDRECKAJPHJo-ELLXxZ4nsMTRo1-GAgAAlwgBAZcIqPINpu2CuE17jNiwv49x6w revoke
  trustid vc status urn:trustid:vc:AQD96nQxDRECKAJPHJo-ELLXxZ4nsMTRo1-GAgAAlwgBAZcIqPINpu2CuE17jNiwv49x6w reinstate -o json`,
	"vc present": `  trustid vc present res.sd-jwt --disclose residence,region --holder-key holder.pem --aud https://rp.example --nonce 8d1f2c > pres.txt`,
	"vc keygen": `  trustid vc keygen --alg ES256 --out holder.pem
  trustid vc keygen --alg SM2 --out holder-sm2.pem -o json`,

	"issuers accredit": `  TRUSTID_ACCESS_TOKEN=$ADMIN trustid issuers accredit --node http://127.0.0.1:8080 --client rp-zwfw --types ResidenceCredential
  trustid issuers accredit --client rp-zwfw --types ResidenceCredential --suspend`,
	"issuers show": `  trustid issuers show rp-zwfw -o json`,

	"wallet enroll": `  TRUSTID_ACCESS_TOKEN=$TOKEN trustid wallet enroll --number - --name 张三 --pin 123456 --wallet wallet.json < number.txt`,
	"wallet code":   `  trustid wallet code --wallet wallet.json --consent age_over_18 -o json`,

	"healthcheck": `  trustid healthcheck
  trustid healthcheck --url http://127.0.0.1:8080/healthz --timeout 2s -o json`,
}

// addHiddenFlags adds the flags add defines to dst, hidden from help: a
// command that ignores settings it used to inherit still accepts them.
func addHiddenFlags(dst *pflag.FlagSet, add func(*pflag.FlagSet)) {
	f := pflag.NewFlagSet("hidden", pflag.ContinueOnError)
	add(f)
	f.VisitAll(func(fl *pflag.Flag) {
		fl.Hidden = true
		dst.AddFlag(fl)
	})
}

// ledgerFlagNames are the flags shown under "Ledger flags" in help.
var ledgerFlagNames = func() map[string]bool {
	f := pflag.NewFlagSet("ledger", pflag.ContinueOnError)
	addLedgerFlags(f)
	names := map[string]bool{}
	f.VisitAll(func(fl *pflag.Flag) { names[fl.Name] = true })
	return names
}()

// groupedUsage is cobra's usage with the ledger settings in a section of
// their own, after the command's flags and before the global ones.
func groupedUsage(c *cobra.Command) error {
	w := c.OutOrStderr()
	fmt.Fprint(w, "Usage:")
	if c.Runnable() {
		fmt.Fprintf(w, "\n  %s", c.UseLine())
	}
	if c.HasAvailableSubCommands() {
		fmt.Fprintf(w, "\n  %s [command]", c.CommandPath())
	}
	if len(c.Aliases) > 0 {
		fmt.Fprintf(w, "\n\nAliases:\n  %s", c.NameAndAliases())
	}
	if c.HasExample() {
		fmt.Fprintf(w, "\n\nExamples:\n%s", c.Example)
	}
	if c.HasAvailableSubCommands() {
		fmt.Fprint(w, "\n\nAvailable Commands:")
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() || sub.Name() == "help" {
				fmt.Fprintf(w, "\n  %-*s %s", sub.NamePadding(), sub.Name(), sub.Short)
			}
		}
	}
	local, ledgerFlags, global := pflag.NewFlagSet("local", pflag.ContinueOnError), pflag.NewFlagSet("ledger", pflag.ContinueOnError), pflag.NewFlagSet("global", pflag.ContinueOnError)
	split := func(dst *pflag.FlagSet) func(*pflag.Flag) {
		return func(f *pflag.Flag) {
			if f.Hidden {
				return
			}
			if ledgerFlagNames[f.Name] {
				ledgerFlags.AddFlag(f)
			} else {
				dst.AddFlag(f)
			}
		}
	}
	c.LocalFlags().VisitAll(split(local))
	c.InheritedFlags().VisitAll(split(global))
	for _, s := range []struct {
		title string
		set   *pflag.FlagSet
	}{{"Flags", local}, {"Ledger flags", ledgerFlags}, {"Global Flags", global}} {
		if s.set.HasFlags() {
			fmt.Fprintf(w, "\n\n%s:\n%s", s.title, strings.TrimRight(s.set.FlagUsages(), " \t\n"))
		}
	}
	if c.HasAvailableSubCommands() {
		fmt.Fprintf(w, "\n\nUse \"%s [command] --help\" for more information about a command.", c.CommandPath())
	}
	fmt.Fprintln(w)
	return nil
}

// addCompletions registers the completions of flag values and arguments
// that are cheap and need no network: fixed value lists, and the kids of
// the retiring keys of the local keystore for `keys retire`.
func addCompletions(root *cobra.Command) {
	values := func(vs ...string) cobra.CompletionFunc {
		return cobra.FixedCompletions(vs, cobra.ShellCompDirectiveNoFileComp)
	}
	var docTypes []string
	for t := identity.ResidentID; t <= identity.Passport; t++ {
		docTypes = append(docTypes, t.String())
	}
	flagValues := map[string]cobra.CompletionFunc{
		"log-level":    values("debug", "info", "warn", "error"),
		"log-format":   values("text", "json"),
		"ledger":       values("auto", "embedded", "fabric"),
		"kind":         values("offline", "delegated", "static"),
		"type":         values(docTypes...),
		"secret-name":  values(secretSymbol, secretPairwise, secretPINMAC, secretPINSeal),
		"token-alg":    values(auth.AccessTokenAlgorithms...),
		"id-token-alg": values(auth.IDTokenAlgorithms...),
		"format":       values("vc+jwt", "sd-jwt", "vc+cose", "sm2-rdfc-2025", "ecdsa-rdfc-2019", "eddsa-rdfc-2022"),
	}
	algs := map[string]cobra.CompletionFunc{
		"clients keygen": values(auth.AssertionAlgorithms...),
		"vc keygen":      values(keystore.Algorithms...),
		"vc issue":       values(keystore.Algorithms...),
	}
	walkCommands(root, func(c *cobra.Command) {
		for name, fn := range flagValues {
			if c.Flags().Lookup(name) != nil || c.PersistentFlags().Lookup(name) != nil {
				_ = c.RegisterFlagCompletionFunc(name, fn)
			}
		}
		if fn, ok := algs[commandKey(c)]; ok {
			_ = c.RegisterFlagCompletionFunc("alg", fn)
		}
		switch commandKey(c) {
		case "keys rotate":
			c.ValidArgsFunction = positional(values(keystore.Algorithms...))
		case "keys retire":
			c.ValidArgsFunction = positional(completeRetiringKids)
		case "ledger vote":
			c.ValidArgsFunction = positional(values("admit", "suspend", "reinstate"))
		case "vc status":
			c.ValidArgsFunction = func(cmd *cobra.Command, args []string, s string) ([]cobra.Completion, cobra.ShellCompDirective) {
				if len(args) == 1 {
					return values("revoke", "suspend", "reinstate")(cmd, args, s)
				}
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
		}
	})
}

// positional completes the first argument with fn, and nothing after it.
func positional(fn cobra.CompletionFunc) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, s string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return fn(cmd, args, s)
	}
}

// completeRetiringKids lists the retiring keys of the keystore in --data,
// only when it exists and its KEK is at hand (TRUSTID_KEK or the
// development KEK file): completing never creates a file.
func completeRetiringKids(cmd *cobra.Command, _ []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
	_ = applyConfig(cmd) // --data from TRUSTID_DATA or the config file
	ks, err := openKeystoreReadOnly(dataDir(cmd))
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var kids []cobra.Completion
	for _, k := range ks.Keys() {
		if k.State == keystore.StateRetiring {
			kids = append(kids, cobra.CompletionWithDesc(k.Kid, k.Alg+" retiring since "+day(k.Retiring)))
		}
	}
	return kids, cobra.ShellCompDirectiveNoFileComp
}

// openKeystoreReadOnly opens an existing keystore without making a data
// directory, a development KEK or keys.
func openKeystoreReadOnly(dir string) (*keystore.Store, error) {
	path := filepath.Join(dir, keystoreFile)
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	kek, _, err := existingKEK(dir)
	if err != nil {
		return nil, err
	}
	return keystore.Open(path, kek, keystore.Options{Rand: failingReader{}})
}

// existingKEK returns the KEK at hand for the existing keystore in dir as
// openKeystore resolves it, TRUSTID_KEK or else the development KEK file,
// but never makes a development KEK; dev reports the file's.
func existingKEK(dir string) (kek []byte, dev bool, err error) {
	path, devPath := filepath.Join(dir, keystoreFile), filepath.Join(dir, devKEKFile)
	env := os.Getenv("TRUSTID_KEK")
	if _, err := os.Stat(devPath); env == "" && errors.Is(err, os.ErrNotExist) {
		return nil, false, wrongKEKError(path, devPath, "")
	}
	kek, dev, err = keystore.ResolveKEK(env, devPath, failingReader{})
	if err != nil && !dev {
		err = fmt.Errorf("TRUSTID_KEK: %w", err)
	}
	return kek, dev, err
}

// failingReader is the randomness of a path that must not generate keys.
type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }
