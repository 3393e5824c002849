package webui_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/trustid-cn/trustid/internal/testbrowser"
)

func TestProbe(t *testing.T) {
	base := servePages(t)
	b := testbrowser.New(t)
	ctx, cancel := context.WithTimeout(b, 60*time.Second)
	defer cancel()
	for _, w := range []int64{800, 320} {
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(w, 900), chromedp.Navigate(base+"/ui/operator?lang=en"),
			chromedp.Poll[chromedp.Void](`window.TID && document.documentElement.lang === "en"`, chromedp.WithPollingTimeout(5*time.Second))); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
		r, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("dt")].map(e => e.textContent + " " + e.getBoundingClientRect().width + "x" + e.getBoundingClientRect().height)`))
		t.Log(w, r)
		png, _ := chromedp.Run(ctx, chromedp.FullScreenshot(90))
		os.WriteFile("/tmp/uiprobe/op"+map[int64]string{800: "800", 320: "320"}[w]+".jpg", png, 0o644)
	}
}
