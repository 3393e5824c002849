package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestBuilderSteps(t *testing.T) {
	dir := t.TempDir()
	src, meta, out, rel := filepath.Join(dir, "src"), filepath.Join(dir, "meta"), filepath.Join(dir, "out"), filepath.Join(dir, "rel")
	write(t, filepath.Join(meta, "metadata.json"), `{"type":"ccaas","label":"trustid_1"}`)
	write(t, filepath.Join(src, "connection.json"), `{"address":"{{.host}}:27999","dial_timeout":"10s","tls_required":false}`)
	write(t, filepath.Join(src, "META-INF", "statedb", "couchdb", "indexes", "i.json"), `{}`)

	if err := detect([]string{src, meta}); err != nil {
		t.Fatalf("detect: %v", err)
	}
	t.Setenv("CHAINCODE_AS_A_SERVICE_BUILDER_CONFIG", `{"host":"127.0.0.1"}`)
	if err := build([]string{src, meta, out}); err != nil {
		t.Fatalf("build: %v", err)
	}
	if err := release([]string{out, rel}); err != nil {
		t.Fatalf("release: %v", err)
	}
	raw, err := os.ReadFile(filepath.Join(rel, "chaincode", "server", "connection.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c connection
	if err := json.Unmarshal(raw, &c); err != nil || c.Address != "127.0.0.1:27999" || c.DialTimeout != "10s" {
		t.Fatalf("released connection.json %s: %v", raw, err)
	}
	if _, err := os.Stat(filepath.Join(rel, "statedb", "couchdb", "indexes", "i.json")); err != nil {
		t.Errorf("indexes not released: %v", err)
	}

	// A template naming a missing key fails the build instead of dialing "<no value>".
	t.Setenv("CHAINCODE_AS_A_SERVICE_BUILDER_CONFIG", `{}`)
	if err := build([]string{src, meta, filepath.Join(dir, "out2")}); err == nil || !strings.Contains(err.Error(), "template") {
		t.Errorf("missing template key: %v", err)
	}
	// Other package types are not ours.
	write(t, filepath.Join(dir, "golang", "metadata.json"), `{"type":"golang","path":"x"}`)
	if err := detect([]string{src, filepath.Join(dir, "golang")}); err == nil {
		t.Error("detect accepted a golang package")
	}
	write(t, filepath.Join(dir, "bad", "metadata.json"), `{"type":"ccaas"} trailing`)
	if err := detect([]string{src, filepath.Join(dir, "bad")}); err == nil {
		t.Error("detect accepted trailing data")
	}
	if err := build([]string{src}); err == nil {
		t.Error("build with missing arguments")
	}
}
