package api

import (
	"net/http/httptest"
	"testing"
)

// BenchmarkPageText is the language negotiation of one login page.
func BenchmarkPageText(b *testing.B) {
	for _, accept := range []string{"", "zh-CN,zh;q=0.9,en;q=0.8", "en-GB,en-US;q=0.9,en;q=0.8,zh-CN;q=0.7,zh;q=0.6"} {
		b.Run(accept, func(b *testing.B) {
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("Accept-Language", accept)
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				w.Header().Del("Vary")
				if pageText(w, r) == nil {
					b.Fatal("no text")
				}
			}
		})
	}
}
