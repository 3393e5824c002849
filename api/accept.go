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
// header lines give text/html and application/json. For each, the most
// specific media range that matches it gives its quality (the highest of
// them if that range is repeated); none matching gives 0. A range with
// an invalid q is ignored.
func acceptQualities(lines []string) (html, json int) {
	var htmlSpec, jsonSpec int
	for _, line := range lines {
		for part := range strings.SplitSeq(line, ",") {
			mt, params, _ := strings.Cut(part, ";")
			typ, sub, ok := strings.Cut(strings.TrimSpace(mt), "/")
			if !ok {
				continue
			}
			q, ok := qValue(params)
			if !ok {
				continue
			}
			if s := rangeMatch(typ, sub, "text", "html"); s > htmlSpec || (s == htmlSpec && s > 0 && q > html) {
				htmlSpec, html = s, q
			}
			if s := rangeMatch(typ, sub, "application", "json"); s > jsonSpec || (s == jsonSpec && s > 0 && q > json) {
				jsonSpec, json = s, q
			}
		}
	}
	return html, json
}

// rangeMatch returns how specifically the media range typ/sub matches
// the media type t/s: 3 exactly, 2 by t/*, 1 by */*, 0 not at all.
// Types compare without regard to case.
func rangeMatch(typ, sub, t, s string) int {
	switch {
	case strings.EqualFold(typ, t) && strings.EqualFold(sub, s):
		return 3
	case strings.EqualFold(typ, t) && sub == "*":
		return 2
	case typ == "*" && sub == "*":
		return 1
	}
	return 0
}

// qValue returns the q parameter among a media range's parameters, in
// thousandths (1000 when absent), or false when it does not follow the
// grammar: "0" ["." up to 3 digits] or "1" ["." up to 3 zeros].
func qValue(params string) (int, bool) {
	for p := range strings.SplitSeq(params, ";") {
		name, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if !strings.EqualFold(strings.TrimSpace(name), "q") {
			continue
		}
		v = strings.TrimSpace(v)
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
	return 1000, true
}
