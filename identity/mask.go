package identity

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// maskMiddle keeps head and tail bytes of an ASCII number and replaces the
// rest with '*'. At least half of the number is always masked.
func maskMiddle(num []byte, head, tail int) string {
	n := len(num)
	head, tail = maskKept(n, head, tail)
	b := make([]byte, n)
	for i := range b {
		if i < head || i >= n-tail {
			b[i] = num[i]
		} else {
			b[i] = '*'
		}
	}
	return string(b)
}

// maskKept lowers head and tail, the tail first, until they keep at most
// half of n characters.
func maskKept(n, head, tail int) (int, int) {
	for head+tail > n/2 && head+tail > 0 {
		if tail >= head && tail > 0 {
			tail--
		} else {
			head--
		}
	}
	return head, tail
}

// maskPassportNumber keeps the first 2 and last 2 characters of a document
// number of 8 or more characters, the first 1 and last 2 of 6 or 7, and
// the first 1 (and last 1 from 4) of shorter ones.
func maskPassportNumber(num []byte) string {
	switch n := len(num); {
	case n >= 8:
		return maskMiddle(num, 2, 2)
	case n >= 6:
		return maskMiddle(num, 1, 2)
	case n >= 4:
		return maskMiddle(num, 1, 1)
	default:
		return maskMiddle(num, 1, 0)
	}
}

// MaskNumber returns the display form of an identity number without
// parsing it: the first 4 and last 4 characters of an 18- or 15-character
// ID number, the rest as '*'; shorter strings keep at most a quarter of
// their characters at each end. Use Document.Masked for parsed documents.
//
// It counts characters, not bytes, so a number typed with full-width
// digits (an input method's full-width mode) is masked in whole
// characters; a run of bytes that are not UTF-8 counts as one U+FFFD,
// and only the first MaxInputLen characters are looked at.
func MaskNumber(number string) string {
	r := []rune(strings.ToValidUTF8(strings.TrimSpace(number), "\uFFFD"))
	if len(r) > MaxInputLen {
		r = r[:MaxInputLen]
	}
	k := 4
	if len(r) < 15 {
		k = len(r) / 4
	}
	head, tail := maskKept(len(r), k, k)
	for i := head; i < len(r)-tail; i++ {
		r[i] = '*'
	}
	return string(r)
}

// compoundSurnames are common two-character Chinese surnames (复姓); a name
// starting with one keeps both characters visible.
var compoundSurnames = map[string]bool{
	"欧阳": true, "司马": true, "上官": true, "诸葛": true, "东方": true, "皇甫": true,
	"尉迟": true, "公孙": true, "慕容": true, "长孙": true, "宇文": true, "司徒": true,
	"夏侯": true, "轩辕": true, "令狐": true, "钟离": true, "端木": true, "澹台": true,
	"公冶": true, "濮阳": true, "淳于": true, "单于": true, "太叔": true, "申屠": true,
	"闻人": true, "赫连": true, "南宫": true, "呼延": true, "东郭": true, "西门": true,
	"百里": true, "第五": true, "万俟": true, "司空": true, "独孤": true, "拓跋": true,
	"公羊": true, "谷梁": true, "仲孙": true, "亓官": true, "司寇": true, "子车": true,
	"颛孙": true, "巫马": true, "公西": true, "漆雕": true, "乐正": true, "壤驷": true,
	"公良": true, "宰父": true, "梁丘": true, "左丘": true, "东门": true, "羊舌": true,
}

// nameSeparator reports characters kept as they are between name parts.
func nameSeparator(r rune) bool {
	switch r {
	case ' ', '-', '.', ',', '·', '•', '・', '‧':
		return true
	}
	return false
}

// MaskName returns the display form of a person's name for counters and
// receipts. A Chinese name keeps its surname (one character, or two for a
// compound surname) and masks each other character: "张三" → "张*",
// "欧阳修远" → "欧阳**". Other names keep the first letter of each part and
// mask the rest of it: "John Smith" → "J*** S****"; a one-letter part
// other than the first is masked too ("J R" → "J *"). Separators (space,
// hyphen, dot, comma, middle dot) are kept. A one-character name is
// fully masked.
func MaskName(name string) string {
	name = strings.TrimSpace(name)
	if name == "" {
		return ""
	}
	if !utf8.ValidString(name) {
		name = strings.ToValidUTF8(name, "\uFFFD")
	}
	runes := []rune(name)
	if isHanName(runes) {
		letters := 0
		for _, r := range runes {
			if !nameSeparator(r) {
				letters++
			}
		}
		keep := 1
		switch {
		case letters <= 1:
			keep = 0
		case letters >= 3 && compoundSurnames[string(runes[:2])]:
			keep = 2
		}
		var b strings.Builder
		for i, r := range runes {
			if i < keep || nameSeparator(r) {
				b.WriteRune(r)
			} else {
				b.WriteByte('*')
			}
		}
		return b.String()
	}
	// Other names, part by part: a part keeps its first letter if it has
	// more than one; a lone letter is kept only as the first part of a
	// longer name, so that initials do not leave a name readable.
	total := 0
	for _, r := range runes {
		if !nameSeparator(r) {
			total++
		}
	}
	var b strings.Builder
	first := true
	for i := 0; i < len(runes); {
		if nameSeparator(runes[i]) {
			b.WriteRune(runes[i])
			i++
			continue
		}
		j := i
		for j < len(runes) && !nameSeparator(runes[j]) {
			j++
		}
		keep := j-i >= 2 || first && total > 1
		for k := i; k < j; k++ {
			if k == i && keep {
				b.WriteRune(runes[k])
			} else {
				b.WriteByte('*')
			}
		}
		first = false
		i = j
	}
	return b.String()
}

// isHanName reports whether name has no spaces and its letters are Han.
func isHanName(runes []rune) bool {
	han := false
	for _, r := range runes {
		switch {
		case unicode.Is(unicode.Han, r):
			han = true
		case nameSeparator(r) && r != ' ':
		default:
			return false
		}
	}
	return han
}
