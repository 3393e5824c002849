package main

// The CCaaS external builder. The peer runs, from the builder's bin/:
//
//	detect  SRC_DIR META_DIR          exit 0 iff META_DIR/metadata.json has "type": "ccaas"
//	build   SRC_DIR META_DIR OUT_DIR  write OUT_DIR/connection.json from SRC_DIR/connection.json,
//	                                  expanding {{.name}} templates in its string fields from the
//	                                  JSON object in CHAINCODE_AS_A_SERVICE_BUILDER_CONFIG
//	release OUT_DIR RELEASE_DIR       copy it to RELEASE_DIR/chaincode/server/connection.json
//
// With no run step, the peer dials the address in connection.json.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/template"
)

// connection is the CCaaS connection.json (Fabric's field names).
type connection struct {
	Address     string `json:"address"`
	DialTimeout string `json:"dial_timeout"`
	TLSRequired bool   `json:"tls_required"`
	ClientAuth  bool   `json:"client_auth_required,omitempty"`
	RootCert    string `json:"root_cert,omitempty"`
	ClientKey   string `json:"client_key,omitempty"`
	ClientCert  string `json:"client_cert,omitempty"`
}

const maxMeta = 1 << 20

func readJSON(path string, v any) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxMeta+1))
	if err != nil {
		return err
	}
	if len(b) > maxMeta {
		return fmt.Errorf("%s: over %d bytes", path, maxMeta)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if dec.More() {
		return fmt.Errorf("%s: trailing data", path)
	}
	return nil
}

func isCCaaS(metaDir string) error {
	var md struct {
		Type  string `json:"type"`
		Label string `json:"label"`
	}
	if err := readJSON(filepath.Join(metaDir, "metadata.json"), &md); err != nil {
		return err
	}
	if !strings.EqualFold(md.Type, "ccaas") {
		return fmt.Errorf("package type %q is not ccaas", md.Type)
	}
	return nil
}

func detect(args []string) error {
	if len(args) != 2 {
		return errors.New("usage: detect SRC_DIR META_DIR")
	}
	return isCCaaS(args[1])
}

func build(args []string) error {
	if len(args) != 3 {
		return errors.New("usage: build SRC_DIR META_DIR OUT_DIR")
	}
	src, meta, out := args[0], args[1], args[2]
	if err := isCCaaS(meta); err != nil {
		return err
	}
	var c connection
	if err := readJSON(filepath.Join(src, "connection.json"), &c); err != nil {
		return err
	}
	var cfg map[string]any
	if s := os.Getenv("CHAINCODE_AS_A_SERVICE_BUILDER_CONFIG"); s != "" {
		if err := json.Unmarshal([]byte(s), &cfg); err != nil {
			return fmt.Errorf("CHAINCODE_AS_A_SERVICE_BUILDER_CONFIG: %w", err)
		}
	}
	for _, f := range []*string{&c.Address, &c.DialTimeout, &c.RootCert, &c.ClientKey, &c.ClientCert} {
		v, err := expand(*f, cfg)
		if err != nil {
			return err
		}
		*f = v
	}
	if c.Address == "" {
		return errors.New("connection.json: address is empty")
	}
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "connection.json"), b, 0o644); err != nil {
		return err
	}
	if fi, err := os.Stat(filepath.Join(src, "META-INF")); err == nil && fi.IsDir() {
		return copyTree(filepath.Join(src, "META-INF"), filepath.Join(out, "META-INF"))
	}
	return nil
}

func release(args []string) error {
	if len(args) != 2 {
		return errors.New("usage: release OUT_DIR RELEASE_DIR")
	}
	out, rel := args[0], args[1]
	dst := filepath.Join(rel, "chaincode", "server")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	if err := copyFile(filepath.Join(out, "connection.json"), filepath.Join(dst, "connection.json")); err != nil {
		return err
	}
	if idx := filepath.Join(out, "META-INF", "statedb", "couchdb", "indexes"); isDir(idx) {
		return copyTree(idx, filepath.Join(rel, "statedb", "couchdb", "indexes"))
	}
	return nil
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

func expand(s string, cfg map[string]any) (string, error) {
	if !strings.Contains(s, "{{") {
		return s, nil
	}
	t, err := template.New("connection").Option("missingkey=error").Parse(s)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, cfg); err != nil {
		return "", fmt.Errorf("connection.json template: %w", err)
	}
	return buf.String(), nil
}

func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		t := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(t, 0o755)
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file", p)
		}
		return copyFile(p, t)
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
