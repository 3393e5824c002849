package apispec

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/trustid-cn/trustid/api"
)

// The official OpenAPI 3.1 meta-schema (the document's structure; Schema
// Objects are checked by Load), iteration 2022-10-07, byte for byte as
// published at its $id. testdata/README.md says where the copy came from.
const (
	metaSchemaFile   = "testdata/oas-3.1-schema-2022-10-07.json"
	metaSchemaID     = "https://spec.openapis.org/oas/3.1/schema/2022-10-07"
	metaSchemaSHA256 = "da01ba28852cac0de53893797cb8d1942bc3b05084f526dcc216717dec314ed0"
)

func compileMetaSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	raw, err := os.ReadFile(metaSchemaFile)
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(raw); hex.EncodeToString(sum[:]) != metaSchemaSHA256 {
		t.Fatalf("%s: SHA-256 %x, want %s: not the published meta-schema", metaSchemaFile, sum, metaSchemaSHA256)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	// Formats stay annotations, as JSON Schema 2020-12 has them by
	// default: OpenAPI 3.1 allows relative references in its URL fields
	// (section 4.6), which an asserted "format": "uri" would refuse
	// (openIdConnectUrl /.well-known/openid-configuration, tokenUrl
	// /oauth2/token, relative to the node that serves the document).
	c := jsonschema.NewCompiler()
	if err := c.AddResource(metaSchemaID, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(metaSchemaID)
	if err != nil {
		t.Fatalf("meta-schema: %v", err)
	}
	return s
}

// TestDocumentMatchesMetaSchema: api/openapi.json is valid against the
// official OpenAPI 3.1 meta-schema.
func TestDocumentMatchesMetaSchema(t *testing.T) {
	meta := compileMetaSchema(t)
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(api.OpenAPI()))
	if err != nil {
		t.Fatal(err)
	}
	if err := meta.Validate(doc); err != nil {
		t.Fatalf("api/openapi.json against %s:\n%v", metaSchemaID, err)
	}
}

// TestMetaSchemaRejects: the meta-schema, as compiled, catches the
// mistakes it is there for.
func TestMetaSchemaRejects(t *testing.T) {
	meta := compileMetaSchema(t)
	for name, doc := range map[string]string{
		"no info":                 `{"openapi":"3.1.0","paths":{}}`,
		"version 3.0":             `{"openapi":"3.0.3","info":{"title":"t","version":"1"},"paths":{}}`,
		"unknown top-level field": `{"openapi":"3.1.0","info":{"title":"t","version":"1"},"paths":{},"extra":1}`,
		"response without description": `{"openapi":"3.1.0","info":{"title":"t","version":"1"},
			"paths":{"/a":{"get":{"responses":{"200":{}}}}}}`,
		"path parameter not required": `{"openapi":"3.1.0","info":{"title":"t","version":"1"},
			"paths":{"/a/{x}":{"get":{"parameters":[{"name":"x","in":"path","schema":{"type":"string"}}],"responses":{"200":{"description":"ok"}}}}}}`,
		"bad status code": `{"openapi":"3.1.0","info":{"title":"t","version":"1"},
			"paths":{"/a":{"get":{"responses":{"600":{"description":"x"}}}}}}`,
	} {
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader([]byte(doc)))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if meta.Validate(v) == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
