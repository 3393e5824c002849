package main

import (
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
	f.String("log-level", "info", "log level: debug, info, warn, error")
	f.String("log-format", "text", "log format: text or json")
}

// applyConfig fills every flag the command line did not set, first from
// TRUSTID_<NAME>, then from the config file, leaving the default otherwise.
func applyConfig(cmd *cobra.Command) error {
	file := map[string]any{}
	path, _ := cmd.Flags().GetString("config")
	if !cmd.Flags().Changed("config") {
		if env := os.Getenv(envPrefix + "CONFIG"); env != "" {
			path = env
		}
	}
	if path != "" {
		raw, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("config file: %w", err)
		}
		dec := yaml.NewDecoder(strings.NewReader(string(raw)))
		dec.KnownFields(true)
		if err := dec.Decode(&file); err != nil {
			return fmt.Errorf("config file %s: %w", path, err)
		}
		known := map[string]bool{}
		cmd.Flags().VisitAll(func(f *pflag.Flag) { known[f.Name] = true })
		for k := range file {
			if !known[k] {
				return fmt.Errorf("config file %s: unknown setting %q for %q", path, k, cmd.CommandPath())
			}
		}
	}
	var err error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed || f.Name == "config" || f.Name == "help" {
			return
		}
		src, val, ok := "", "", false
		if v, found := os.LookupEnv(envName(f.Name)); found {
			src, val, ok = envName(f.Name), v, true
		} else if v, found := file[f.Name]; found {
			src, val, ok = path+": "+f.Name, fmt.Sprint(v), true
		}
		if ok {
			if e := f.Value.Set(val); e != nil {
				err = fmt.Errorf("%s: invalid value for --%s: %w", src, f.Name, e)
			}
		}
	})
	return err
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
