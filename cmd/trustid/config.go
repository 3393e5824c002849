package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/trustid-cn/trustid/api"
)

// envPrefix starts every environment variable that sets a flag.
const envPrefix = "TRUSTID_"

// addCommonFlags adds the flags every subcommand shares.
func addCommonFlags(root *cobra.Command) {
	f := root.PersistentFlags()
	f.String("config", "", "YAML config file; keys are flag names (env TRUSTID_CONFIG)")
	f.String("data", "./data", "data directory: keystore, outbox, caches")
	addCheckedFlag(f, "log-level", "info", "log level: debug, info, warn, error", func(s string) error {
		var level slog.Level
		return level.UnmarshalText([]byte(s))
	})
	addCheckedFlag(f, "log-format", "text", "log format: text or json", func(s string) error {
		if s != "text" && s != "json" {
			return errors.New("want text or json")
		}
		return nil
	})
}

// applyConfig fills every flag the command line did not set, first from
// TRUSTID_<NAME> (a comma-separated list for a list flag), then from the
// config file, leaving the default otherwise.
func applyConfig(cmd *cobra.Command) error {
	file := map[string][]string{}
	path := configPath(cmd)
	if path != "" {
		var err error
		if file, err = readConfig(cmd, path); err != nil {
			return err
		}
	}
	var err error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed || f.Name == "config" || f.Name == "help" {
			return
		}
		src, vals := "", []string(nil)
		if v, found := os.LookupEnv(envName(f.Name)); found {
			src, vals = envName(f.Name), []string{v}
			if isListFlag(f) { // a repeatable flag: comma-separated
				vals = strings.Split(v, ",")
			}
		} else if v, found := file[f.Name]; found {
			src, vals = path+": "+f.Name, v
		}
		for _, val := range vals {
			if e := f.Value.Set(val); e != nil {
				err = usageError{fmt.Errorf("%s: invalid value for --%s: %w", src, f.Name, e)}
				return
			}
		}
	})
	return err
}

// configPath returns the config file cmd reads: --config, else
// TRUSTID_CONFIG; "" for none.
func configPath(cmd *cobra.Command) string {
	path, _ := cmd.Flags().GetString("config")
	if !cmd.Flags().Changed("config") {
		if env := os.Getenv(envPrefix + "CONFIG"); env != "" {
			path = env
		}
	}
	return path
}

// valueSource names, as applyConfig's errors do ("SOURCE: "), where the
// value of cmd's flag name came from when not from the command line: its
// variable or the config file; "" for the command line or the default.
func valueSource(cmd *cobra.Command, name string) string {
	f := cmd.Flags().Lookup(name)
	_, inEnv := os.LookupEnv(envName(name))
	switch {
	case f == nil || f.Changed:
		return ""
	case inEnv:
		return envName(name) + ": "
	case configPath(cmd) != "" && f.Value.String() != f.DefValue:
		return configPath(cmd) + ": " + name + ": "
	}
	return ""
}

// readConfig reads the YAML config file at path: a mapping of cmd's flag
// names to a scalar each, written as on the command line, or to a
// sequence of scalars for a list flag (each item as one more --flag).
// An empty file or one of comments only sets nothing; a key of another
// command's flag is left to that command; a key no command has, a null,
// a mapping, or a sequence for a flag that takes one value is refused,
// naming the key, and so is a second YAML document.
func readConfig(cmd *cobra.Command, path string) (map[string][]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	nodes := map[string]yaml.Node{}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&nodes); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	// The settings are one document: those of a second would be ignored.
	var next yaml.Node
	if dec.Decode(&next) == nil {
		return nil, fmt.Errorf("config file %s: more than one YAML document (line %d): write every setting in one", path, next.Line)
	}
	file := make(map[string][]string, len(nodes))
	for k, n := range nodes {
		f := cmd.Flags().Lookup(k)
		if f == nil && isAnyFlag(cmd.Root(), k) {
			continue // another command's: one file serves them all
		}
		if f == nil {
			return nil, fmt.Errorf("config file %s: unknown setting %q: no trustid command has a flag --%s", path, k, k)
		}
		bad := func(what string) error {
			return fmt.Errorf("config file %s: %s (line %d): %s", path, k, n.Line, what)
		}
		switch {
		case n.Kind == yaml.ScalarNode && n.Tag != "!!null":
			file[k] = []string{n.Value}
		case n.Kind == yaml.ScalarNode:
			return nil, bad(`no value (write "" for an empty one, or leave the key out)`)
		case n.Kind == yaml.SequenceNode && isListFlag(f):
			vals := make([]string, len(n.Content))
			for i, e := range n.Content {
				if e.Kind != yaml.ScalarNode || e.Tag == "!!null" {
					return nil, bad(fmt.Sprintf("item %d is not a plain value", i+1))
				}
				vals[i] = e.Value
			}
			file[k] = vals
		case n.Kind == yaml.SequenceNode:
			return nil, bad("a list, but --" + k + " takes one value")
		default:
			return nil, bad("want a plain value (or a list of them for a list flag)")
		}
	}
	return file, nil
}

// isAnyFlag reports whether some command under root has the flag name.
func isAnyFlag(root *cobra.Command, name string) bool {
	found := false
	walkCommands(root, func(c *cobra.Command) { found = found || c.Flags().Lookup(name) != nil })
	return found
}

// isListFlag reports whether f takes a list (StringSlice, StringArray).
func isListFlag(f *pflag.Flag) bool {
	_, ok := f.Value.(pflag.SliceValue)
	return ok
}

func envName(flag string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// newLogger builds the process logger from --log-level and --log-format.
func newLogger(cmd *cobra.Command) (*slog.Logger, error) {
	return newLoggerTo(cmd, cmd.ErrOrStderr())
}

// newLoggerTo is newLogger writing to w.
func newLoggerTo(cmd *cobra.Command, w io.Writer) (*slog.Logger, error) {
	levelName, _ := cmd.Flags().GetString("log-level")
	format, _ := cmd.Flags().GetString("log-format")
	var level slog.Level
	if err := level.UnmarshalText([]byte(levelName)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	if format == "text" && !cmd.Flags().Changed("log-format") && jsonOutput(cmd) {
		format = "json" // -o json: every line on stderr is JSON
	}
	switch format {
	case "text":
		return slog.New(api.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format must be text or json, not %q", format)
}
