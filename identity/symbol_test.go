package identity

import (
	"bytes"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/keystore"
)

func testKey(seed byte) []byte {
	k := make([]byte, 32)
	for i := range k {
		k[i] = seed + byte(i)
	}
	return k
}

func testDeriver(t testing.TB, keys ...VersionedKey) *Deriver {
	t.Helper()
	if len(keys) == 0 {
		keys = []VersionedKey{{Version: 1, Secret: testKey(0)}}
	}
	d, err := NewDeriver(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func mustParse(t testing.TB, s string) Document {
	t.Helper()
	d, err := testValidator().Parse(s)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return d
}

// oracleSymbol computes a symbol's text independently of the package's
// encoder: one-shot HMAC-SM3, encoding/base32 with Crockford's alphabet,
// and the check character from math/big.
func oracleSymbol(key []byte, version int, docType, number string) string {
	mac := gm.HMACSM3(key, []byte("TrustID/symbol/v1\x00"+docType+"\x00"+number))[:20]
	body := base32.NewEncoding(crockford).WithPadding(base32.NoPadding).EncodeToString(mac)
	n := new(big.Int).SetBytes(mac)
	n.Add(n, new(big.Int).Lsh(big.NewInt(int64(version)), 160))
	check := new(big.Int).Mod(n, big.NewInt(37)).Int64()
	return string(crockford[version]) + body + string(crockfordCheck[check])
}

func TestSymbolKnownAnswer(t *testing.T) {
	d := testDeriver(t)
	for _, c := range []struct{ in, typ, num string }{
		{"11010519491231002X", "resident_id", "11010519491231002X"},
		{"11010519491231002x", "resident_id", "11010519491231002X"},
		{"110105491231002", "resident_id", "11010519491231002X"},
		{"810000199408230021", "hmt_permit", "810000199408230021"},
		{"KAZ110090123105", "foreign_permanent_2017", "KAZ110090123105"},
		{specimenLine1 + "\n" + specimenLine2, "passport", "UTOL898902C3"},
	} {
		sym, err := d.Derive(mustParse(t, c.in))
		if err != nil {
			t.Fatal(err)
		}
		if want := oracleSymbol(testKey(0), 1, c.typ, c.num); sym.Text() != want {
			t.Errorf("%s: %s, oracle %s", c.typ, sym.Text(), want)
		}
	}
	// A fixed vector, so that any change to the derivation is noticed: it
	// would orphan every enrolled person.
	sym, _ := d.Derive(mustParse(t, "11010519491231002X"))
	if got, want := sym.Text(), oracleSymbol(testKey(0), 1, "resident_id", "11010519491231002X"); got != want || got != "1WCQCDVTPR5SN776D4SFAEKSE1BT62YYT3" {
		t.Errorf("fixed vector: got %s (oracle %s)", got, want)
	}
}

func TestSymbolText(t *testing.T) {
	d := testDeriver(t)
	sym, _ := d.Derive(mustParse(t, "11010519491231002X"))
	text := sym.Text()
	if len(text) != TextLen || TextLen != 34 {
		t.Fatalf("length %d", len(text))
	}
	for _, in := range []string{text, strings.ToLower(text), strings.NewReplacer("0", "o", "1", "l").Replace(text), strings.ReplaceAll(text, "1", "I")} {
		got, err := ParseSymbol(in)
		if err != nil || !got.Equal(sym) || got.Text() != text {
			t.Errorf("ParseSymbol(%q) = %v, %v", in, got.Text(), err)
		}
	}
	// Every single-character substitution is caught by the check
	// character (or is not base32 at all); so is every swap of two
	// adjacent different characters before the check character (a change
	// of (a-b)·31·32^k, never 0 mod 37).
	for i := 0; i < TextLen; i++ {
		for _, c := range crockfordCheck {
			b := []byte(text)
			if b[i] == byte(c) {
				continue
			}
			b[i] = byte(c)
			if _, err := ParseSymbol(string(b)); err == nil {
				t.Fatalf("substitution at %d to %c accepted", i, c)
			}
		}
		if i+2 < TextLen && text[i] != text[i+1] {
			b := []byte(text)
			b[i], b[i+1] = b[i+1], b[i]
			if _, err := ParseSymbol(string(b)); err == nil {
				t.Fatalf("transposition at %d accepted", i)
			}
		}
	}
	cases := []struct {
		in   string
		want error
	}{
		{"", ErrIdentifierLength},
		{text[:33], ErrIdentifierLength},
		{text + "0", ErrIdentifierLength},
		{" " + text[1:], ErrIdentifierCharacter},
		{text[:5] + "U" + text[6:], ErrIdentifierCharacter},
		{text[:5] + "*" + text[6:], ErrIdentifierCharacter},
		{text[:5] + "é" + text[7:], ErrIdentifierCharacter},
		{text[:33] + "!", ErrIdentifierCharacter},
	}
	// Version 0 with a correct check character.
	zero := ident{ver: 0, mac: sym.x.mac}
	cases = append(cases, struct {
		in   string
		want error
	}{string(zero.appendText(nil)), ErrUnknownKeyVersion})
	for _, c := range cases {
		if _, err := ParseSymbol(c.in); !errors.Is(err, c.want) {
			t.Errorf("ParseSymbol(%q): %v, want %v", c.in, err, c.want)
		}
		if code, ok := CodeOf(func() error { _, err := ParseSymbol(c.in); return err }()); !ok || code.Sentinel() != c.want {
			t.Errorf("code of %v: %s", c.want, code)
		}
	}
}

func TestSymbolNoLeak(t *testing.T) {
	d := testDeriver(t)
	sym, _ := d.Derive(mustParse(t, "11010519491231002X"))
	full := sym.Text()
	var logBuf bytes.Buffer
	slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("x", "symbol", sym)
	type holder struct {
		S Symbol
		s Symbol
	}
	outs := []string{
		sym.String(), sym.GoString(), fmt.Sprint(sym), fmt.Sprintf("%v %+v %#v %s %q %x %X %d", sym, sym, sym, sym, sym, sym, sym, sym),
		fmt.Sprintf("%v %+v", holder{sym, sym}, &holder{sym, sym}), logBuf.String(),
	}
	for _, o := range outs {
		if strings.Contains(o, full) || strings.Contains(o, full[1:12]) {
			t.Errorf("formatted output shows the symbol: %s", o)
		}
	}
	if !strings.Contains(sym.String(), full[:7]) || !strings.HasSuffix(sym.String(), "…") {
		t.Errorf("String %q", sym.String())
	}
	if reflect.TypeOf(Symbol{}).Comparable() || reflect.TypeOf(PairwiseID{}).Comparable() {
		t.Error("Symbol or PairwiseID is comparable with ==")
	}
	// JSON carries the full form.
	b, err := json.Marshal(struct{ S Symbol }{sym})
	if err != nil || string(b) != `{"S":"`+full+`"}` {
		t.Fatalf("json %s %v", b, err)
	}
	var back struct{ S Symbol }
	if err := json.Unmarshal(b, &back); err != nil || !back.S.Equal(sym) {
		t.Fatalf("json round trip: %v", err)
	}
	if err := json.Unmarshal([]byte(`{"S":"nope"}`), &back); !errors.Is(err, ErrIdentifierLength) {
		t.Errorf("bad json symbol: %v", err)
	}
	if _, err := json.Marshal(struct{ S Symbol }{}); !errors.Is(err, ErrZeroIdentifier) {
		t.Errorf("zero symbol marshalled: %v", err)
	}
	if (Symbol{}).Text() != "" || !(Symbol{}).IsZero() || (Symbol{}).Equal(sym) || !(Symbol{}).Equal(Symbol{}) {
		t.Error("zero symbol")
	}
}

func TestDeriverKeys(t *testing.T) {
	for _, keys := range [][]VersionedKey{
		nil,
		{{Version: 0, Secret: testKey(0)}},
		{{Version: 32, Secret: testKey(0)}},
		{{Version: 1, Secret: testKey(0)[:15]}},
		{{Version: 1, Secret: testKey(0)}, {Version: 1, Secret: testKey(1)}},
	} {
		if _, err := NewDeriver(keys...); !errors.Is(err, ErrKeys) {
			t.Errorf("NewDeriver(%d keys): %v", len(keys), err)
		}
	}
	d := testDeriver(t, VersionedKey{2, testKey(2)}, VersionedKey{1, testKey(1)}, VersionedKey{5, testKey(5)})
	if d.Version() != 5 || !reflect.DeepEqual(d.Versions(), []int{5, 2, 1}) {
		t.Fatalf("versions %d %v", d.Version(), d.Versions())
	}
	doc := mustParse(t, "11010519491231002X")
	all, err := d.DeriveAll(doc)
	if err != nil || len(all) != 3 {
		t.Fatal(err)
	}
	cur, _ := d.Derive(doc)
	if !all[0].Equal(cur) || cur.Version() != 5 {
		t.Error("DeriveAll[0] is not the current symbol")
	}
	for i, v := range []int{5, 2, 1} {
		s, err := d.DeriveVersion(doc, v)
		if err != nil || !s.Equal(all[i]) || s.Version() != v {
			t.Errorf("version %d: %v", v, err)
		}
		if want := oracleSymbol(testKey(byte(v)), v, "resident_id", "11010519491231002X"); s.Text() != want {
			t.Errorf("version %d: %s, oracle %s", v, s.Text(), want)
		}
		if i > 0 && s.Equal(all[0]) {
			t.Error("two versions gave one symbol")
		}
	}
	if _, err := d.DeriveVersion(doc, 3); !errors.Is(err, ErrUnknownKeyVersion) {
		t.Errorf("unknown version: %v", err)
	}
	if _, err := d.Derive(Document{}); err == nil {
		t.Error("zero document derived")
	}
	// Deriver.ParseSymbol knows its versions.
	if _, err := d.ParseSymbol(cur.Text()); err != nil {
		t.Error(err)
	}
	other, _ := testDeriver(t, VersionedKey{3, testKey(3)}).Derive(doc)
	if _, err := d.ParseSymbol(other.Text()); !errors.Is(err, ErrUnknownKeyVersion) {
		t.Errorf("symbol of a version not held: %v", err)
	}
}

// TestSymbolAcrossNodes: two nodes with different signing keys (different
// keystores, different KEKs) but the same imported national symbol key
// derive the same symbol; a node that generated its own symbol key does not.
func TestSymbolAcrossNodes(t *testing.T) {
	national := testKey(42)
	open := func(kek byte) *keystore.Store {
		k := bytes.Repeat([]byte{kek}, 16)
		ks, err := keystore.Open(filepath.Join(t.TempDir(), "keystore.json"), k, keystore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return ks
	}
	deriverOf := func(ks *keystore.Store) *Deriver {
		sec, err := ks.Secret("symbol", 32)
		if err != nil {
			t.Fatal(err)
		}
		return testDeriver(t, VersionedKey{sec.Version, sec.Value()})
	}
	a, b, c := open(1), open(2), open(3)
	ka, _ := a.Active(gm.AlgSM2)
	kb, _ := b.Active(gm.AlgSM2)
	if ka.Kid == kb.Kid {
		t.Fatal("the two nodes share a signing key")
	}
	for _, ks := range []*keystore.Store{a, b} {
		if err := ks.ImportSecret("symbol", 1, national); err != nil {
			t.Fatal(err)
		}
	}
	doc := mustParse(t, id18("44030519900101123"))
	sa, _ := deriverOf(a).Derive(doc)
	sb, _ := deriverOf(b).Derive(doc)
	sc, _ := deriverOf(c).Derive(doc)
	if !sa.Equal(sb) || sa.Text() != sb.Text() {
		t.Errorf("nodes disagree: %s %s", sa.Text(), sb.Text())
	}
	if sa.Equal(sc) {
		t.Error("a node with its own symbol key derived the national symbol")
	}
	// The legacy 15-digit number of the same person gives the same symbol.
	legacy := mustParse(t, "110105491231002")
	modern := mustParse(t, "11010519491231002X")
	s1, _ := deriverOf(a).Derive(legacy)
	s2, _ := deriverOf(b).Derive(modern)
	if !s1.Equal(s2) {
		t.Error("legacy and 18-digit numbers of one person differ")
	}
}

func TestDeriveInputMatchesParse(t *testing.T) {
	d := testDeriver(t)
	for _, strict := range []bool{false, true} {
		v := testValidator()
		v.Strict = strict
		for _, in := range []string{
			"11010519491231002X", "11010519491231002x", " 11010519491231002X\r", "\u00a011010519491231002X",
			"110105491231002", "110105194912310021", "810000199408230021", "932682198501010017",
			id18("11019919800101001"), id18("19010519800101001"), id18("11010520300101001"), id18("11010518990101001"),
			id18("11010519800230001"), "1101051949123100X2", "", "x", strings.Repeat("1", 201),
			specimenLine1 + "\n" + specimenLine2,
		} {
			checkDeriveInput(t, d, v, in)
		}
	}
}

func checkDeriveInput(t *testing.T, d *Deriver, v *Validator, in string) {
	t.Helper()
	got, gotErr := d.DeriveInput(v, []byte(in))
	doc, err := v.Parse(in)
	var want Symbol
	if err == nil {
		want, err = d.Derive(doc)
	}
	if (err == nil) != (gotErr == nil) {
		t.Fatalf("DeriveInput(%q) error %v, Parse %v", in, gotErr, err)
	}
	if err != nil {
		c1, _ := CodeOf(err)
		c2, _ := CodeOf(gotErr)
		if c1 != c2 {
			t.Fatalf("DeriveInput(%q) code %s, Parse %s", in, c2, c1)
		}
		return
	}
	if !got.Equal(want) {
		t.Fatalf("DeriveInput(%q) differs from Parse+Derive", in)
	}
}

func TestDeriveInputAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	d := testDeriver(t)
	v := testValidator()
	in := []byte("11010519491231002X")
	d.DeriveInput(v, in)
	var buf [TextLen]byte
	if n := testing.AllocsPerRun(1000, func() {
		s, err := d.DeriveInput(v, in)
		if err != nil {
			t.Fatal(err)
		}
		s.AppendText(buf[:0])
	}); n != 0 {
		t.Errorf("DeriveInput + AppendText: %v allocations, want 0", n)
	}
}

func FuzzParseSymbol(f *testing.F) {
	d := testDeriver(f)
	sym, _ := d.Derive(mustParse(f, "11010519491231002X"))
	for _, s := range []string{sym.Text(), strings.ToLower(sym.Text()), "", "0000000000000000000000000000000000", strings.Repeat("Z", 34), strings.Repeat("U", 34)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseSymbol(s)
		p, perr := ParsePairwiseID(s)
		if (err == nil) != (perr == nil) {
			t.Fatal("symbol and pairwise parsers disagree")
		}
		if err != nil {
			if code, ok := CodeOf(err); !ok || code.Sentinel() == nil {
				t.Fatalf("error without a code: %v", err)
			}
			if len(s) > 3 && strings.Contains(err.Error(), s) {
				t.Fatal("error shows the input")
			}
			return
		}
		text := got.Text()
		if len(s) != TextLen || len(text) != TextLen || got.IsZero() || p.Text() != text {
			t.Fatalf("accepted %q as %q", s, text)
		}
		// The canonical form is the input upper-cased with the aliases
		// replaced.
		if want := strings.NewReplacer("O", "0", "I", "1", "L", "1").Replace(strings.ToUpper(s)); text != want {
			t.Fatalf("canonical form of %q is %q, want %q", s, text, want)
		}
		again, err := ParseSymbol(text)
		if err != nil || !again.Equal(got) {
			t.Fatalf("round trip of %q: %v", text, err)
		}
	})
}

func FuzzDeriveInput(f *testing.F) {
	fuzzSeeds(f)
	d := testDeriver(f)
	v := testValidator()
	strict := testValidator()
	strict.Strict = true
	f.Fuzz(func(t *testing.T, in string) {
		checkDeriveInput(t, d, v, in)
		checkDeriveInput(t, d, strict, in)
	})
}

// BenchmarkSymbolDerive measures one derivation from a parsed document
// under the precomputed HMAC-SM3 state (see docs/BENCHMARKS.md).
func BenchmarkSymbolDerive(b *testing.B) {
	d := testDeriver(b)
	doc := mustParse(b, "11010519491231002X")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Derive(doc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSymbolDeriveParallel is the same on every core.
func BenchmarkSymbolDeriveParallel(b *testing.B) {
	d := testDeriver(b)
	doc := mustParse(b, "11010519491231002X")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := d.Derive(doc); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkDeriveInput is the batch path: validate a line and derive its
// symbol as text.
func BenchmarkDeriveInput(b *testing.B) {
	d := testDeriver(b)
	v := testValidator()
	in := []byte("11010519491231002X")
	var buf [TextLen]byte
	data()
	b.ReportAllocs()
	for b.Loop() {
		s, err := d.DeriveInput(v, in)
		if err != nil {
			b.Fatal(err)
		}
		s.AppendText(buf[:0])
	}
}

func BenchmarkParseSymbol(b *testing.B) {
	sym, _ := testDeriver(b).Derive(mustParse(b, "11010519491231002X"))
	text := sym.Text()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseSymbol(text); err != nil {
			b.Fatal(err)
		}
	}
}
