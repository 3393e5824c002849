package identity

import "testing"

// BenchmarkParseResidentID is the batch path. Measured with
// go test -run '^$' -bench . -benchmem ./identity/ (Go 1.26, linux/amd64,
// the shared 2-core development VM, "Oxide Virtual Turin-like Processor"):
// 270-320 ns/op, 208 B/op, 1 allocs/op (the Document's data). The legacy
// 15-digit path is about 390 ns and 2 allocations, an MRZ about 720 ns
// and 7 allocations (the name and optional-data strings).
func BenchmarkParseResidentID(b *testing.B) {
	v := testValidator()
	data() // load the tables outside the timing
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Parse("11010519491231002X"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseLegacy(b *testing.B) {
	v := testValidator()
	data()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Parse("110105491231002"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseInvalidCheck(b *testing.B) {
	v := testValidator()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Parse("110105194912310021"); err == nil {
			b.Fatal("accepted")
		}
	}
}

func BenchmarkParseMRZ(b *testing.B) {
	v := testValidator()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.ParseMRZ(specimenLine1, specimenLine2); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoadTables(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		loadTables()
	}
}
