package wallet

import (
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
)

// gomobileProblems lists every exported API element of pkg that `gomobile
// bind` cannot export. The rules are those of gobind's documentation
// (golang.org/x/mobile/cmd/gobind, "Type restrictions"): an exported
// function, method, field, variable or constant may use only
//
//   - signed integer and floating point types (int, int8..int64, float32,
//     float64), string and bool — not unsigned integers, complex numbers
//     or named basic types;
//   - byte slices ([]byte) — no other slice, no array, map or channel;
//   - the built-in error;
//   - pointers to the package's exported structs, and the package's
//     exported interfaces (all of whose methods follow these rules);
//
// functions and methods return no result, one, or two with the second an
// error; and nothing is generic. No exported type is named like the
// package: gobind puts package-level functions in a Java class of that
// name. Exported struct fields and methods follow
// the same rules. Function-typed parameters and fields are refused too
// (stricter than gobind, which has no callbacks but interfaces).
func gomobileProblems(pkg *types.Package) []string {
	var out []string
	bad := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	var supported func(t types.Type) bool
	supported = func(t types.Type) bool {
		switch u := t.(type) {
		case *types.Basic:
			switch u.Kind() {
			case types.Int, types.Int8, types.Int16, types.Int32, types.Int64, types.Float32, types.Float64,
				types.String, types.Bool, types.UntypedInt, types.UntypedFloat, types.UntypedString, types.UntypedBool:
				return true
			}
			return false
		case *types.Slice:
			b, ok := u.Elem().(*types.Basic)
			return ok && b.Kind() == types.Byte
		case *types.Pointer:
			n, ok := u.Elem().(*types.Named)
			if !ok || n.Obj().Pkg() != pkg || !n.Obj().Exported() || n.TypeArgs().Len() > 0 {
				return false
			}
			_, isStruct := n.Underlying().(*types.Struct)
			return isStruct
		case *types.Named:
			if u.Obj().Pkg() == nil && u.Obj().Name() == "error" {
				return true
			}
			if u.Obj().Pkg() != pkg || !u.Obj().Exported() || u.TypeArgs().Len() > 0 {
				return false
			}
			_, isIface := u.Underlying().(*types.Interface)
			return isIface
		}
		return false
	}
	checkFunc := func(name string, sig *types.Signature) {
		if sig.TypeParams().Len() > 0 || sig.RecvTypeParams().Len() > 0 {
			bad("%s is generic", name)
		}
		if sig.Variadic() {
			bad("%s is variadic", name)
		}
		for i := 0; i < sig.Params().Len(); i++ {
			if t := sig.Params().At(i).Type(); !supported(t) {
				bad("%s: parameter %d has unsupported type %s", name, i+1, t)
			}
		}
		res := sig.Results()
		switch {
		case res.Len() > 2:
			bad("%s returns %d results (at most 2)", name, res.Len())
		case res.Len() == 2 && res.At(1).Type().String() != "error":
			bad("%s: the second result must be error, not %s", name, res.At(1).Type())
		}
		for i := 0; i < res.Len(); i++ {
			if t := res.At(i).Type(); !supported(t) {
				bad("%s: result %d has unsupported type %s", name, i+1, t)
			}
		}
	}
	scope := pkg.Scope()
	for _, name := range scope.Names() {
		obj := scope.Lookup(name)
		if !obj.Exported() {
			continue
		}
		switch o := obj.(type) {
		case *types.Func:
			checkFunc(name, o.Type().(*types.Signature))
		case *types.Var:
			if !supported(o.Type()) {
				bad("variable %s has unsupported type %s", name, o.Type())
			}
		case *types.Const:
			if !supported(o.Type()) {
				bad("constant %s has unsupported type %s", name, o.Type())
			}
		case *types.TypeName:
			if strings.EqualFold(name, pkg.Name()) {
				bad("type %s has the name of the Java class gobind makes for the package's functions", name)
			}
			n, ok := o.Type().(*types.Named)
			if !ok {
				bad("%s is an alias", name)
				continue
			}
			if n.TypeParams().Len() > 0 {
				bad("type %s is generic", name)
			}
			switch u := n.Underlying().(type) {
			case *types.Struct:
				for i := 0; i < u.NumFields(); i++ {
					if f := u.Field(i); f.Exported() && !supported(f.Type()) {
						bad("field %s.%s has unsupported type %s", name, f.Name(), f.Type())
					}
				}
				ms := types.NewMethodSet(types.NewPointer(n))
				for i := 0; i < ms.Len(); i++ {
					if m := ms.At(i).Obj(); m.Exported() {
						checkFunc(name+"."+m.Name(), m.Type().(*types.Signature))
					}
				}
			case *types.Interface:
				for i := 0; i < u.NumMethods(); i++ {
					if m := u.Method(i); m.Exported() {
						checkFunc(name+"."+m.Name(), m.Type().(*types.Signature))
					} else {
						bad("interface %s has the unexported method %s: no other language can implement it", name, m.Name())
					}
				}
			default:
				bad("type %s is a %T: only structs and interfaces are exported", name, u)
			}
		}
	}
	sort.Strings(out)
	return out
}

// TestGomobileAPI: the wallet's exported API is within gomobile bind's
// type rules.
func TestGomobileAPI(t *testing.T) {
	// Type information from the compiler's export data (go list
	// -export), much faster than type-checking every dependency from
	// source.
	out, err := exec.Command("go", "list", "-export", "-deps", "-f", "{{.ImportPath}}={{.Export}}", ".").Output()
	if err != nil {
		t.Fatalf("go list -export: %v", err)
	}
	exports := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if path, file, ok := strings.Cut(line, "="); ok {
			exports[path] = file
		}
	}
	lookup := func(path string) (io.ReadCloser, error) {
		if exports[path] == "" {
			return nil, fmt.Errorf("no export data for %s", path)
		}
		return os.Open(exports[path])
	}
	pkg, err := importer.ForCompiler(token.NewFileSet(), "gc", lookup).Import("github.com/trustid-cn/trustid/sdk/wallet")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(pkg.Scope().Names()); n < 8 {
		t.Fatalf("the package has only %d names: wrong package?", n)
	}
	for _, p := range gomobileProblems(pkg) {
		t.Error(p)
	}
}

// TestGomobileRulesCatchViolations runs the checker on an API that breaks
// every rule, so TestGomobileAPI cannot pass vacuously.
func TestGomobileRulesCatchViolations(t *testing.T) {
	const src = `package bad
type Kind uint8
type Bad struct{}
type S struct{ M map[string]int; C chan int; N []string; U uint64; OK []byte; F func() }
type I interface{ Do(x []int) (int, int, error); hidden() }
type G[T any] struct{ V T }
func Gen[T any](v T) {}
func Two() (int, string) { return 0, "" }
func Struct() S { return S{} }
func Var(xs ...int) {}
func Good(b []byte, s string, n int64, p *S, i I) (*S, error) { return nil, nil }
var Count uint
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "bad.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	pkg, err := (&types.Config{Importer: importer.Default()}).Check("bad", fset, []*ast.File{f}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(gomobileProblems(pkg), "\n")
	for _, want := range []string{
		"type Kind is a *types.Basic",
		"field S.M has unsupported type map[string]int",
		"field S.C has unsupported type chan int",
		"field S.N has unsupported type []string",
		"field S.U has unsupported type uint64",
		"field S.F has unsupported type func()",
		"I.Do returns 3 results",
		"I.Do: parameter 1 has unsupported type []int",
		"interface I has the unexported method hidden",
		"type G is generic",
		"Gen is generic",
		"Two: the second result must be error, not string",
		"Struct: result 1 has unsupported type bad.S",
		"Var is variadic",
		"variable Count has unsupported type uint",
		"type Bad has the name of the Java class",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the checker missed %q; it found:\n%s", want, got)
		}
	}
	if strings.Contains(got, "Good") || strings.Contains(got, "OK") {
		t.Errorf("the checker refused a supported element:\n%s", got)
	}
}
