package main

import (
	"io"
	"strings"
	"unicode"

	"golang.org/x/text/width"
)

// table prints the text output of the list commands (keys, clients,
// terminals): columns two spaces apart, aligned by display width, so a
// name in Chinese (two terminal columns a character) does not push the
// columns after it out of line as text/tabwriter, which counts runes, does.
type table struct{ rows [][]string }

// row adds a row; control characters in a cell (a tab or newline in a
// client's name, a terminal escape) and bidirectional controls (a
// right-to-left override would show the cells after it reversed, in a
// terminal that reorders) print as U+FFFD.
func (t *table) row(cells ...string) {
	clean := make([]string, len(cells))
	for i, c := range cells {
		clean[i] = strings.Map(func(r rune) rune {
			if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
				return unicode.ReplacementChar
			}
			return r
		}, c)
	}
	t.rows = append(t.rows, clean)
}

// write prints the rows; the last cell of a row is not padded.
func (t *table) write(w io.Writer) error {
	var widths []int
	for _, r := range t.rows {
		for i, c := range r {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], displayWidth(c))
		}
	}
	var b strings.Builder
	for _, r := range t.rows {
		for i, c := range r {
			b.WriteString(c)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-displayWidth(c)+2))
			}
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// displayWidth is the number of terminal columns s takes: two for an East
// Asian Wide or Fullwidth character (UAX #11), none for a combining mark
// or a format character (a zero-width joiner), one for the rest
// (ambiguous-width characters count as narrow, as outside CJK locales).
func displayWidth(s string) int {
	n := 0
	for _, r := range s {
		switch {
		case unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf):
		case width.LookupRune(r).Kind() == width.EastAsianWide, width.LookupRune(r).Kind() == width.EastAsianFullwidth:
			n += 2
		default:
			n++
		}
	}
	return n
}
