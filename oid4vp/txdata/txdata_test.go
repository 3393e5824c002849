package txdata

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// TestParse: good objects round-trip; each bad one is refused with its
// sentinel.
func TestParse(t *testing.T) {
	good := &Item{Type: TypeConfirmation, CredentialIDs: []string{"pid"}, Summary: "向 商店 支付 ¥120.00"}
	enc, err := Encode(good)
	if err != nil {
		t.Fatal(err)
	}
	it, err := Parse(enc)
	if err != nil || it.Summary != good.Summary || it.CredentialIDs[0] != "pid" {
		t.Fatalf("%+v %v", it, err)
	}
	if a, err := it.Alg(); a != HashSHA256 || err != nil {
		t.Fatalf("default alg %q %v", a, err)
	}
	// The known answer: base64url(SHA-256("abc")).
	if h, _ := Hash("abc", HashSHA256); h != "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0" {
		t.Fatalf("hash %s", h)
	}
	if _, err := Hash("abc", "sha-384"); !errors.Is(err, ErrUnsupportedAlg) {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, json string
		want       error
	}{
		{"other type", `{"type":"payment","credential_ids":["pid"],"amount":3}`, ErrUnsupportedType},
		{"no type", `{"credential_ids":["pid"],"summary":"x"}`, ErrInvalid},
		{"type not a string", `{"type":1,"credential_ids":["pid"],"summary":"x"}`, ErrInvalid},
		{"unknown member", `{"type":"` + TypeConfirmation + `","credential_ids":["pid"],"summary":"x","amount":1}`, ErrInvalid},
		{"no credential_ids", `{"type":"` + TypeConfirmation + `","summary":"x"}`, ErrInvalid},
		{"empty credential_ids", `{"type":"` + TypeConfirmation + `","credential_ids":[],"summary":"x"}`, ErrInvalid},
		{"repeated id", `{"type":"` + TypeConfirmation + `","credential_ids":["a","a"],"summary":"x"}`, ErrInvalid},
		{"no summary", `{"type":"` + TypeConfirmation + `","credential_ids":["pid"]}`, ErrInvalid},
		{"control in summary", `{"type":"` + TypeConfirmation + `","credential_ids":["pid"],"summary":"a\u0007b"}`, ErrSummaryText},
		{"long summary", `{"type":"` + TypeConfirmation + `","credential_ids":["pid"],"summary":"` + strings.Repeat("x", MaxSummary+1) + `"}`, ErrInvalid},
		{"only sha-384", `{"type":"` + TypeConfirmation + `","credential_ids":["pid"],"summary":"x","transaction_data_hashes_alg":["sha-384"]}`, ErrUnsupportedAlg},
		{"empty algs", `{"type":"` + TypeConfirmation + `","credential_ids":["pid"],"summary":"x","transaction_data_hashes_alg":[]}`, ErrInvalid},
		{"duplicate member", `{"type":"` + TypeConfirmation + `","credential_ids":["pid"],"summary":"x","summary":"y"}`, ErrInvalid},
		{"array", `[]`, ErrInvalid},
	} {
		if _, err := Parse(b64(c.json)); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := Parse(enc + "="); !errors.Is(err, ErrInvalid) {
		t.Errorf("padded: %v", err)
	}
	if _, err := Parse(strings.Repeat("A", 8<<10)); !errors.Is(err, ErrInvalid) {
		t.Errorf("long: %v", err)
	}
	withAlg := `{"type":"` + TypeConfirmation + `","credential_ids":["pid"],"summary":"x","transaction_data_hashes_alg":["sha-384","sha-256"]}`
	if it, err := Parse(b64(withAlg)); err != nil || len(it.HashAlgs) != 2 {
		t.Errorf("two algorithms: %v", err)
	}
}

// TestParseRequest: the request's array and its credential ids.
func TestParseRequest(t *testing.T) {
	enc, _ := Encode(&Item{Type: TypeConfirmation, CredentialIDs: []string{"pid", "other"}, Summary: "ok"})
	if _, items, err := ParseRequest([]any{enc}, []string{"pid", "other"}); err != nil || len(items) != 1 {
		t.Fatal(err)
	}
	for name, v := range map[string]any{
		"not an array": enc, "empty": []any{}, "not strings": []any{1.0},
		"too many":         []any{enc, enc, enc, enc, enc, enc, enc, enc, enc},
		"unknown query id": []any{enc},
	} {
		ids := []string{"pid", "other"}
		if name == "unknown query id" {
			ids = []string{"pid"}
		}
		if _, _, err := ParseRequest(v, ids); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// summaryWith is an encoded confirmation whose summary is s.
func summaryWith(s string) string {
	enc, err := json.Marshal(Item{Type: TypeConfirmation, CredentialIDs: []string{"pid"}, Summary: s})
	if err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(enc)
}

// hiddenText are summaries that would display differently from what they
// hold: format characters (Cf), private use, unassigned code points and
// separators, each between visible text.
var hiddenText = map[string]string{
	"RLO":                       "pay \u202e001 ¥",
	"LRO":                       "pay \u202d1",
	"isolate LRI":               "pay \u20661\u2069",
	"isolate FSI":               "pay \u20681",
	"isolate PDI":               "\u2069pay",
	"zero-width space":          "pay 1\u200b0",
	"ZWNJ":                      "pay\u200c1",
	"ZWJ":                       "pay\u200d1",
	"LRM":                       "pay\u200e1",
	"RLM":                       "pay\u200f1",
	"BOM":                       "\ufeffpay 1",
	"soft hyphen":               "pay\u00ad1",
	"word joiner":               "pay\u20601",
	"tag character":             "pay\U000e0041",
	"private use":               "pay \ue000",
	"unassigned":                "pay \u0378",
	"unassigned plane 3":        "pay \U0003fffe",
	"noncharacter":              "pay \uffff",
	"line separator":            "pay\u2028100",
	"paragraph separator":       "pay\u2029100",
	"interlinear anchor":        "pay\ufff9",
	"Arabic letter mark":        "pay\u061c1",
	"Mongolian vowel sep.":      "pay\u180e1",
	"Hangul choseong filler":    "pay\u115f1",
	"Hangul jungseong filler":   "pay\u11601",
	"Hangul filler":             "pay \u3164 1",
	"halfwidth Hangul filler":   "pay\uffa01",
	"Braille blank":             "pay\u28001",
	"combining grapheme joiner": "pay e\u034f1",
	"Khmer inherent vowel":      "pay\u17b41",
	"variation selector 1":      "pay 1\ufe00",
	"text presentation VS15":    "pay \u2764\ufe0e",
	"VS16 after a letter":       "pay a\ufe0f",
	"VS16 first":                "\ufe0fpay",
	"two VS16":                  "pay \u2764\ufe0f\ufe0f",
	"supplementary VS":          "pay 1\U000e0100",
	"last supplementary VS":     "pay 1\U000e01ef",
	"Mongolian FVS":             "pay \u1820\u180b",
	"5 stacked marks":           "pay e\u0301\u0301\u0301\u0301\u0301",
	"5 stacked enclosing":       "pay 1\u20dd\u20dd\u20dd\u20dd\u20dd",
}

// TestSummaryRefusesHiddenText: a summary with a character the consent
// screen would not show as itself is refused with ErrSummaryText (and
// ErrInvalid, so a wallet answers invalid_transaction_data); visible
// text in any script, with ordinary and ideographic spaces, passes.
func TestSummaryRefusesHiddenText(t *testing.T) {
	for name, esc := range hiddenText {
		s, err := strconv.Unquote(`"` + esc + `"`)
		if err != nil {
			t.Fatal(name, err)
		}
		_, err = Parse(summaryWith(s))
		if !errors.Is(err, ErrSummaryText) || !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrSummaryText", name, err)
		}
	}
	for _, ok := range []string{"向 商店 支付 ¥120.00", "支付\u3000¥5", "pay\u00a01 €", "مرحبا 1", "é e\u0301", "👍🏽 ok",
		"\u2764\ufe0f 支付", "\u2714\ufe0f ok", "ệ e\u0302\u0323 a\u0301\u0302\u0303\u0304", "हिन्दी ११"} {
		s, _ := strconv.Unquote(`"` + ok + `"`)
		if _, err := Parse(summaryWith(s)); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
}

// FuzzParse: any string is parsed or refused with a sentinel, never a
// panic; what parses encodes again.
func FuzzParse(f *testing.F) {
	enc, _ := Encode(&Item{Type: TypeConfirmation, CredentialIDs: []string{"pid"}, Summary: "pay 1"})
	f.Add(enc)
	f.Add(b64(`{"type":"payment","credential_ids":["pid"]}`))
	f.Add(b64(`{"type":"` + TypeConfirmation + `","credential_ids":["a","b"],"summary":"x","transaction_data_hashes_alg":["sha-256"]}`))
	f.Add("")
	f.Add("!!")
	for _, esc := range hiddenText {
		s, _ := strconv.Unquote(`"` + esc + `"`)
		f.Add(summaryWith(s))
	}
	f.Fuzz(func(t *testing.T, s string) {
		it, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrUnsupportedType) && !errors.Is(err, ErrUnsupportedAlg) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if _, err := Encode(it); err != nil {
			t.Fatalf("parsed but does not encode: %v", err)
		}
		for _, r := range it.Summary {
			if !unicode.IsGraphic(r) || r == 0x2800 || unicode.In(r, unicode.Other_Default_Ignorable_Code_Point) ||
				(unicode.Is(unicode.Variation_Selector, r) && r != 0xFE0F) {
				t.Fatalf("accepted summary holds U+%04X", r)
			}
		}
	})
}
