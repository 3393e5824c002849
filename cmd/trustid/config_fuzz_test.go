package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// FuzzReadConfig: a config file of any bytes is refused, or gives values
// only for flags the command has (a list only for a list flag), and the
// file holds nothing readConfig did not read: no second YAML document
// whose settings would be silently ignored.
func FuzzReadConfig(f *testing.F) {
	f.Add("controller-document-hosts: [a.example, b.example]\npeer-internal-host:\n  - c.example\nissuer: \"\"\ngc-heap-floor-mib: 1000000\n")
	f.Add("# every setting left at its default\n")
	f.Add("---\nregion: \"310000\"\n...\n")
	f.Add("issuer: ~\nredis-url: {host: x}\n")
	f.Add("region: &r \"310000\"\nissuer: *r\n")
	f.Add("region: \"310000\"\n---\nregion: \"320000\"\n")
	root := newRootCmd()
	cmd, _, err := root.Find([]string{"serve"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, text string) {
		path := filepath.Join(t.TempDir(), "trustid.yaml")
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		vals, err := readConfig(cmd, path)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "config file "+path) {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for k, v := range vals {
			fl := cmd.Flags().Lookup(k)
			if fl == nil || len(v) != 1 && !isListFlag(fl) {
				t.Fatalf("%s = %q taken", k, v)
			}
		}
		if docs := yamlDocuments(text); docs > 1 {
			t.Fatalf("%d YAML documents read as one config", docs)
		}
	})
}

// yamlDocuments counts the documents of text, up to the first that does
// not parse.
func yamlDocuments(text string) int {
	dec := yaml.NewDecoder(strings.NewReader(text))
	n := 0
	for {
		var doc yaml.Node
		if dec.Decode(&doc) != nil {
			return n
		}
		n++
	}
}

// TestConfigFileOneDocument: a config file is one YAML document (a "---"
// before it and a "..." after it are fine); the settings of a second
// are refused, not silently ignored.
func TestConfigFileOneDocument(t *testing.T) {
	cmd, _, err := newRootCmd().Find([]string{"serve"})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "trustid.yaml")
	for text, ok := range map[string]bool{
		"region: \"310000\"\n":                          true,
		"---\nregion: \"310000\"\n...\n":                true,
		"# comments only\n":                             true,
		"region: \"310000\"\n---\nregion: \"320000\"\n": false,
		"region: \"310000\"\n---\nissuer: x\n":          false,
	} {
		os.WriteFile(path, []byte(text), 0o600)
		vals, err := readConfig(cmd, path)
		if ok && err != nil || !ok && (err == nil || !strings.Contains(err.Error(), "more than one YAML document")) {
			t.Errorf("%q: %v %v", text, vals, err)
		}
	}
}
