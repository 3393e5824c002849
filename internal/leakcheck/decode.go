package leakcheck

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"io"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/emmansun/gmsm/sm3"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// maxDepth bounds how many decodings are stacked: a JSON-escaped name
// inside a base64url JWT payload inside a hex dump is three.
const maxDepth = 4

// maxInflate bounds what one compressed stream may expand to.
const maxInflate = 32 << 20

// form is one byte string under which a secret is matched.
type form struct {
	name string // "utf-8", "gbk", "utf-16le"
	b    []byte
	// around, if set, says whether a match at b[i:j] has text on both
	// sides: only such a match counts (containsInText).
	around func(b []byte, i, j int) bool
}

// shortForm is the length under which a GBK or UTF-16 form counts only
// inside text: a two-character name is 4 bytes in either, which turn up
// by chance once in 4 GB of the random bytes that compressed data,
// signatures and wrongly aligned decodings are made of, too often for a
// test run that decodes a megabyte.
const shortForm = 6

// utf16Forms are the byte orders a secret is looked for in as UTF-16.
var utf16Forms = []struct {
	name  string
	order binary.ByteOrder
}{{"utf-16le", binary.LittleEndian}, {"utf-16be", binary.BigEndian}}

// matcher finds secrets in data. In delimited mode it looks only for the
// clear form, as a whole token; otherwise it decodes what it reads and
// looks for every form of every secret at every step.
type matcher struct {
	secrets   []string
	forms     [][]form
	delimited bool
	minLen    int // the shortest form, in bytes
}

func newMatcher(delimited bool, secrets []string) *matcher {
	m := &matcher{secrets: secrets, delimited: delimited, minLen: -1}
	for _, s := range secrets {
		fs := []form{{"utf-8", []byte(s), nil}}
		if !delimited {
			if g, err := simplifiedchinese.GBK.NewEncoder().String(s); err == nil && g != s {
				fs = append(fs, form{"gbk", []byte(g), nil})
				if len(g) < shortForm {
					fs[len(fs)-1].around = gbkAround
				}
			}
			// Windows, Java and JavaScript strings, ASN.1 BMPString.
			for _, u := range utf16Forms {
				f := form{u.name, appendUTF16(nil, u.order, s), nil}
				if len(f.b) < shortForm {
					f.around = utf16Around(u.order)
				}
				fs = append(fs, f)
			}
			if strings.Contains(s, " ") { // a name in a query string
				fs = append(fs, form{"form-encoded", []byte(strings.ReplaceAll(s, " ", "+")), nil})
			}
			// An unkeyed digest of a number or name is as good as the
			// value: the space of numbers can be enumerated.
			s3, s256 := sm3.Sum([]byte(s)), sha256.Sum256([]byte(s))
			fs = append(fs, form{"sm3 digest", s3[:], nil}, form{"sha-256 digest", s256[:], nil})
		}
		for _, f := range fs {
			if m.minLen < 0 || len(f.b) < m.minLen {
				m.minLen = len(f.b)
			}
		}
		m.forms = append(m.forms, fs)
	}
	return m
}

// find returns, for each secret index found in data, how it was found:
// the chain of decodings and the form ("base64@1 > json-escape > utf-8").
func (m *matcher) find(data []byte) map[int]string {
	got := map[int]string{}
	if m.delimited {
		for i, s := range m.secrets {
			if containsToken(data, []byte(s)) {
				got[i] = "utf-8 token"
			}
		}
		return got
	}
	m.walk(data, 0, "", got)
	return got
}

func (m *matcher) walk(b []byte, depth int, how string, got map[int]string) {
	if len(b) < m.minLen {
		return
	}
	for i, fs := range m.forms {
		if _, ok := got[i]; ok {
			continue
		}
		for _, f := range fs {
			if f.around != nil && containsInText(b, f.b, f.around) || f.around == nil && bytes.Contains(b, f.b) {
				got[i] = how + f.name
				break
			}
		}
	}
	if depth == maxDepth || len(got) == len(m.forms) {
		return
	}
	decodings(b, m.minLen, func(name string, out []byte) {
		m.walk(out, depth+1, how+name+" > ", got)
	})
}

// decodings calls emit with every decoding of b that could hold a form of
// at least minLen bytes.
func decodings(b []byte, minLen int, emit func(name string, out []byte)) {
	base64Runs(b, minLen, emit)
	base45Runs(b, minLen, emit)
	hexRuns(b, minLen, emit)
	textRuns(b, minLen, '\\', "json-escape", unescapeJSON, emit)
	textRuns(b, minLen, '%', "percent", unescapePercent, emit)
	inflate(b, emit)
}

// textRuns applies unescape to each run of printable ASCII that holds the
// escape character, and emits the runs it changed, NUL-separated. Escaped
// text is ASCII, and working run by run keeps the bytes of a binary file
// or of a wrongly aligned decoding from being copied whole at every depth.
func textRuns(b []byte, minLen int, esc byte, name string, unescape func([]byte) ([]byte, bool), emit func(string, []byte)) {
	if bytes.IndexByte(b, esc) < 0 {
		return
	}
	var out []byte
	for i := 0; i < len(b); {
		if !isText(b[i]) {
			i++
			continue
		}
		j := i
		for j < len(b) && isText(b[j]) {
			j++
		}
		if run := b[i:j]; len(run) >= minLen && bytes.IndexByte(run, esc) >= 0 {
			if dec, ok := unescape(run); ok {
				out = append(append(out, dec...), 0)
			}
		}
		i = j
	}
	if len(out) > 0 {
		emit(name, out)
	}
}

// base64Runs decodes each maximal run of base64 or base64url characters
// (padding ends a run) starting at its first four characters, so that text
// encoded at any alignment inside the run is decoded once in phase.
func base64Runs(b []byte, minLen int, emit func(string, []byte)) {
	minRun := (minLen*4 + 2) / 3
	for i := 0; i < len(b); {
		if !isBase64(b[i]) {
			i++
			continue
		}
		j := i
		for j < len(b) && isBase64(b[j]) {
			j++
		}
		for off := 0; off < 4 && j-i-off >= minRun; off++ {
			emit("base64@"+strconv.Itoa(off), decodeBase64(b[i+off:j]))
		}
		i = j
	}
}

// Byte classes, looked up rather than computed: the scanner visits every
// byte of every decoding several times.
const (
	classBase64 = 1 << iota // either alphabet
	classHex
	classText   // printable ASCII or tab
	classBase45 // RFC 9285's alphabet
)

// base45Alphabet is RFC 9285's, in value order: QR codes carry their
// bytes in it.
const base45Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"

var classes = func() (t [256]uint8) {
	for c := range 256 {
		b := byte(c)
		if b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '+' || b == '/' || b == '-' || b == '_' {
			t[c] |= classBase64
		}
		if b >= '0' && b <= '9' || b >= 'a' && b <= 'f' || b >= 'A' && b <= 'F' {
			t[c] |= classHex
		}
		if b >= 0x20 && b < 0x7f || b == '\t' {
			t[c] |= classText
		}
		if strings.IndexByte(base45Alphabet, b) >= 0 {
			t[c] |= classBase45
		}
	}
	return t
}()

func isBase64(c byte) bool { return classes[c]&classBase64 != 0 }
func isBase45(c byte) bool { return classes[c]&classBase45 != 0 }
func isHex(c byte) bool    { return classes[c]&classHex != 0 }
func isText(c byte) bool   { return classes[c]&classText != 0 }

// decodeBase64 decodes a run of either alphabet, without padding, ignoring
// a last character that cannot end a quantum.
func decodeBase64(run []byte) []byte {
	if len(run)%4 == 1 {
		run = run[:len(run)-1]
	}
	src := make([]byte, len(run))
	for i, c := range run {
		switch c {
		case '-':
			c = '+'
		case '_':
			c = '/'
		}
		src[i] = c
	}
	dst := make([]byte, base64.RawStdEncoding.DecodedLen(len(src)))
	n, _ := base64.RawStdEncoding.Decode(dst, src) // src holds only alphabet characters
	return dst[:n]
}

// base45Runs decodes each maximal run of base45 characters (RFC 9285:
// three characters a two-byte group) at its three alignments, so that
// bytes encoded anywhere in the run are decoded once in phase.
func base45Runs(b []byte, minLen int, emit func(string, []byte)) {
	minRun := (minLen*3 + 1) / 2
	for i := 0; i < len(b); {
		if !isBase45(b[i]) {
			i++
			continue
		}
		j := i
		for j < len(b) && isBase45(b[j]) {
			j++
		}
		for off := 0; off < 3 && j-i-off >= minRun; off++ {
			emit("base45@"+strconv.Itoa(off), decodeBase45(b[i+off:j]))
		}
		i = j
	}
}

// decodeBase45 decodes a run of base45 characters, keeping the low bytes
// of a group out of range (a wrongly aligned decoding) and dropping a
// last character that cannot end a group.
func decodeBase45(run []byte) []byte {
	out := make([]byte, 0, len(run)/3*2+1)
	for len(run) >= 2 {
		n := 0
		for k := min(len(run), 3) - 1; k >= 0; k-- {
			n = n*45 + strings.IndexByte(base45Alphabet, run[k])
		}
		if len(run) >= 3 {
			out = append(out, byte(n>>8), byte(n))
			run = run[3:]
			continue
		}
		out = append(out, byte(n))
		run = nil
	}
	return out
}

// hexRuns decodes each maximal run of hex digits (either case) at both
// alignments.
func hexRuns(b []byte, minLen int, emit func(string, []byte)) {
	for i := 0; i < len(b); {
		if !isHex(b[i]) {
			i++
			continue
		}
		j := i
		for j < len(b) && isHex(b[j]) {
			j++
		}
		for off := 0; off < 2 && j-i-off >= 2*minLen; off++ {
			run := b[i+off : j]
			out := make([]byte, len(run)/2)
			hex.Decode(out, run[:len(out)*2]) // only hex digits
			emit("hex@"+strconv.Itoa(off), out)
		}
		i = j
	}
}

// unescapeJSON decodes JSON string escapes (\uXXXX with surrogate pairs,
// \" \\ \/ \b \f \n \r \t) wherever they occur, leaving anything else as
// it is. It reports whether anything changed.
func unescapeJSON(b []byte) ([]byte, bool) {
	out := make([]byte, 0, len(b))
	changed := false
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' || i+1 == len(b) {
			out = append(out, b[i])
			continue
		}
		if r, ok := hex4(b, i+2); b[i+1] == 'u' && ok {
			n := 6
			if utf16.IsSurrogate(r) {
				lo, ok := hex4(b, i+8)
				if !ok || b[i+6] != '\\' || b[i+7] != 'u' || utf16.DecodeRune(r, lo) == utf8.RuneError {
					out = append(out, b[i])
					continue
				}
				r, n = utf16.DecodeRune(r, lo), 12
			}
			out = utf8.AppendRune(out, r)
			i += n - 1
			changed = true
			continue
		}
		if c, ok := simpleEscapes[b[i+1]]; ok {
			out = append(out, c)
			i++
			changed = true
			continue
		}
		out = append(out, b[i])
	}
	return out, changed
}

var simpleEscapes = map[byte]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

// hex4 parses four hex digits at b[i:].
func hex4(b []byte, i int) (rune, bool) {
	if i < 0 || i+4 > len(b) {
		return 0, false
	}
	v, err := strconv.ParseUint(string(b[i:i+4]), 16, 16)
	return rune(v), err == nil
}

// unescapePercent decodes every %XX (either case) and reports whether
// there was one.
func unescapePercent(b []byte) ([]byte, bool) {
	out := make([]byte, 0, len(b))
	changed := false
	for i := 0; i < len(b); i++ {
		if b[i] == '%' && i+2 < len(b) && isHex(b[i+1]) && isHex(b[i+2]) {
			var c [1]byte
			hex.Decode(c[:], b[i+1:i+3])
			out = append(out, c[0])
			i += 2
			changed = true
			continue
		}
		out = append(out, b[i])
	}
	return out, changed
}

// inflate decompresses every gzip member and zlib stream that starts
// anywhere in b, keeping what a damaged stream yields before its error.
func inflate(b []byte, emit func(string, []byte)) {
	for i := 0; i+2 < len(b); i++ {
		var r io.Reader
		var name string
		switch {
		case b[i] == 0x1f && b[i+1] == 0x8b && b[i+2] == 8:
			zr, err := gzip.NewReader(bytes.NewReader(b[i:]))
			if err != nil {
				continue
			}
			zr.Multistream(false)
			r, name = zr, "gzip"
		case b[i] == 0x78 && (b[i+1] == 0x01 || b[i+1] == 0x5e || b[i+1] == 0x9c || b[i+1] == 0xda):
			zr, err := zlib.NewReader(bytes.NewReader(b[i:]))
			if err != nil {
				continue
			}
			r, name = zr, "zlib"
		default:
			continue
		}
		out, _ := io.ReadAll(io.LimitReader(r, maxInflate))
		if len(out) > 0 {
			emit(name, out)
		}
	}
}

// containsInText reports whether s occurs in data where around finds
// text on both sides.
func containsInText(data, s []byte, around func(b []byte, i, j int) bool) bool {
	for off := 0; ; {
		i := bytes.Index(data[off:], s)
		if i < 0 {
			return false
		}
		start := off + i
		if around(data, start, start+len(s)) {
			return true
		}
		off = start + 1
	}
}

// gbkAround reports whether up to six characters on each side of b[i:j],
// up to the edge of b, are ASCII or GB2312 (both bytes 0xA1-0xFE). GBK
// prose and records pass; random bytes pass about once in 250 times.
func gbkAround(b []byte, i, j int) bool {
	for n := 0; n < 6 && j < len(b); n++ {
		switch {
		case b[j] < 0x80:
			j++
		case j+1 < len(b) && isGB2312(b[j]) && isGB2312(b[j+1]):
			j += 2
		default:
			return false
		}
	}
	for n := 0; n < 6 && i > 0; n++ {
		switch {
		case b[i-1] < 0x80:
			i--
		case i > 1 && isGB2312(b[i-1]) && isGB2312(b[i-2]):
			i -= 2
		default:
			return false
		}
	}
	return true
}

func isGB2312(c byte) bool { return c >= 0xa1 && c <= 0xfe }

// appendUTF16 appends s in UTF-16 in order to b.
func appendUTF16(b []byte, order binary.ByteOrder, s string) []byte {
	var unit [2]byte
	for _, u := range utf16.Encode([]rune(s)) {
		order.PutUint16(unit[:], u)
		b = append(b, unit[:]...)
	}
	return b
}

// utf16Around returns a check that up to six code units on each side of
// b[i:j], up to the edge of b, are UTF-16 text in order: ASCII, CJK
// (U+3000-U+9FFF), full-width forms (U+FF00-U+FFEF) or a byte order
// mark, and not all of
// their bytes printable ASCII (ASCII text, whose byte pairs read as CJK
// code units, is not UTF-16 text). UTF-16 prose and records pass; random
// bytes pass about once in a million times.
func utf16Around(order binary.ByteOrder) func(b []byte, i, j int) bool {
	return func(b []byte, i, j int) bool {
		units, ascii := 0, true
		text := func(k int) bool {
			u := order.Uint16(b[k:])
			units++
			ascii = ascii && isText(b[k]) && isText(b[k+1])
			return u < 0x80 || u >= 0x3000 && u <= 0x9fff || u >= 0xff00 && u <= 0xffef || u == 0xfeff
		}
		for k, n := j, 0; n < 6 && k+2 <= len(b); k, n = k+2, n+1 {
			if !text(k) {
				return false
			}
		}
		for k, n := i-2, 0; n < 6 && k >= 0; k, n = k-2, n+1 {
			if !text(k) {
				return false
			}
		}
		return units == 0 || !ascii
	}
}

// containsToken reports whether s occurs in data not next to a letter, a
// digit or a '.', so that a PIN is not "found" inside a duration such as
// 1.482916ms or a random hex ID.
func containsToken(data, s []byte) bool {
	for off := 0; ; {
		i := bytes.Index(data[off:], s)
		if i < 0 {
			return false
		}
		start := off + i
		if !tokenByte(data, start-1) && !tokenByte(data, start+len(s)) {
			return true
		}
		off = start + 1
	}
}

func tokenByte(data []byte, i int) bool {
	if i < 0 || i >= len(data) {
		return false
	}
	c := data[i]
	return c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
