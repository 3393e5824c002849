package main

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestDisplayWidth(t *testing.T) {
	for s, want := range map[string]int{
		"":             0,
		"rp-zwfw":      7,
		"政务服务平台":       12,
		"徐汇 counter 3": 14,
		"ＡＢ":           4, // fullwidth Latin
		"ｱｲ":           2, // halfwidth katakana
		"e\u0301":      1, // e + combining acute
		"a\u200db":     2, // zero-width joiner
		"한국":           4,
		"°":            1, // ambiguous: narrow outside CJK locales
	} {
		if got := displayWidth(s); got != want {
			t.Errorf("displayWidth(%q) = %d, want %d", s, got, want)
		}
	}
}

// TestTableAlignsWideCharacters: the columns after a cell in Chinese start
// at the same terminal column on every line, and control characters in a
// cell (bidirectional ones too) cannot break a row or reach the terminal.
func TestTableAlignsWideCharacters(t *testing.T) {
	var tab table
	tab.row("CLIENT_ID", "NAME", "REGION", "STATE")
	tab.row("rp-zwfw", "政务服务平台", "310000", "enabled")
	tab.row("rp-bank", "Bank portal", "320000", "disabled")
	tab.row("rp-x", "bad\tname\x1b[31m\n", "330000", "enabled")
	tab.row("rp-y", "ok\u202edelbasid", "340000", "enabled")
	var b strings.Builder
	if err := tab.write(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	want := "CLIENT_ID  NAME            REGION  STATE\n" +
		"rp-zwfw    政务服务平台    310000  enabled\n" +
		"rp-bank    Bank portal     320000  disabled\n" +
		"rp-x       bad\uFFFDname\uFFFD[31m\uFFFD  330000  enabled\n" +
		"rp-y       ok\uFFFDdelbasid     340000  enabled\n"
	if out != want {
		t.Errorf("table:\n%s\nwant:\n%s", out, want)
	}
	checkAligned(t, out)
}

// checkAligned fails unless every line of a table the CLI printed starts
// each column at the display column where its header starts.
func checkAligned(t *testing.T, out string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	starts := func(line string) []int {
		var cols []int
		for _, m := range regexp.MustCompile(`(^|  +)(\S)`).FindAllStringSubmatchIndex(line, -1) {
			cols = append(cols, displayWidth(line[:m[4]]))
		}
		return cols
	}
	head := starts(lines[0])
	for _, l := range lines[1:] {
		if got := starts(l); !slices.Equal(got, head) {
			t.Errorf("columns of %q start at %v, the header's at %v:\n%s", l, got, head, out)
		}
	}
}
