package api

import (
	"net/http"
	"strings"
)

// prefersHTML reports whether r's Accept header (RFC 9110 §12.5.1) rates
// text/html above application/json: a browser navigating to a page
// (text/html,…,*/*;q=0.8) does; an API client sending no Accept, */* or
// application/json does not.
func prefersHTML(r *http.Request) bool {
	html, json := acceptQualities(r.Header.Values("Accept"))
	return html > json
}

// acceptQualities returns the quality, in thousandths, that the Accept
// header lines give text/html and application/json, both as the node
// sends them (UTF-8, no other parameter). For each, the most specific
// media range that matches it gives its quality (the highest of them if
// that range is repeated); none matching gives 0. A range with media
// type parameters is more specific than one without and matches only
// when they are charset=utf-8 (RFC 9110's text/html;level=1 rates
// text/html;level=1, not text/html). Commas and semicolons inside a
// quoted parameter value separate nothing. A range with an invalid q is
// ignored.
func acceptQualities(lines []string) (html, json int) {
	var htmlSpec, jsonSpec int
	for _, line := range lines {
		for _, elem := range splitUnquoted(line, ',') {
			params := splitUnquoted(elem, ';')
			typ, sub, ok := strings.Cut(strings.TrimSpace(params[0]), "/")
			if !ok {
				continue
			}
			q, utf8, ok := rangeParams(params[1:])
			if !ok {
				continue
			}
			if s := rangeMatch(typ, sub, "text", "html", utf8); s > htmlSpec || (s == htmlSpec && s > 0 && q > html) {
				htmlSpec, html = s, q
			}
			if s := rangeMatch(typ, sub, "application", "json", utf8); s > jsonSpec || (s == jsonSpec && s > 0 && q > json) {
				jsonSpec, json = s, q
			}
		}
	}
	return html, json
}

// splitUnquoted splits s at each sep outside a quoted-string (RFC 9110
// §5.6.4: '"' … '"', a backslash escaping the next byte).
func splitUnquoted(s string, sep byte) []string {
	var parts []string
	quoted, start := false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && c == sep:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// rangeMatch returns how specifically the media range typ/sub matches
// the media type t/s: 6 exactly, 4 by t/*, 2 by */*, 0 not at all; one
// more when the range carries parameters (utf8: all charset=utf-8, which
// the node's types satisfy; -1: others, so it does not match). Types
// compare without regard to case.
func rangeMatch(typ, sub, t, s string, utf8 int) int {
	if utf8 < 0 {
		return 0
	}
	switch {
	case strings.EqualFold(typ, t) && strings.EqualFold(sub, s):
		return 6 + utf8
	case strings.EqualFold(typ, t) && sub == "*":
		return 4 + utf8
	case typ == "*" && sub == "*":
		return 2 + utf8
	}
	return 0
}

// rangeParams reads a media range's parameters: its q (the first one),
// in thousandths (1000 when absent), and utf8: 0 when the range has no
// other parameter, 1 when each is charset=utf-8, -1 otherwise. ok is
// false when q does not follow the grammar: "0" ["." up to 3 digits] or
// "1" ["." up to 3 zeros].
func rangeParams(params []string) (q, utf8 int, ok bool) {
	q, seenQ := 1000, false
	for _, p := range params {
		if strings.TrimSpace(p) == "" {
			continue // RFC 9110 §5.6.6 allows an empty parameter
		}
		name, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		name, v = strings.TrimSpace(name), strings.TrimSpace(v)
		if !strings.EqualFold(name, "q") {
			switch {
			case !strings.EqualFold(name, "charset") || !(strings.EqualFold(v, "utf-8") || strings.EqualFold(v, `"utf-8"`)):
				utf8 = -1
			case utf8 == 0:
				utf8 = 1
			}
			continue
		}
		if seenQ {
			continue
		}
		seenQ = true
		if q, ok = qValue(v); !ok {
			return 0, 0, false
		}
	}
	return q, utf8, true
}

// qValue parses a qvalue (RFC 9110 §12.4.2) into thousandths.
func qValue(v string) (int, bool) {
	if v == "" || (v[0] != '0' && v[0] != '1') {
		return 0, false
	}
	whole, frac, dot := strings.Cut(v, ".")
	if len(whole) != 1 || (dot && len(frac) > 3) {
		return 0, false
	}
	q := int(whole[0]-'0') * 1000
	for i, scale := 0, 100; i < len(frac); i, scale = i+1, scale/10 {
		d := frac[i]
		if d < '0' || d > '9' || (q == 1000 && d != '0') {
			return 0, false
		}
		q += int(d-'0') * scale
	}
	return q, true
}
