package qrcode

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"image/png"
	"strings"
	"testing"

	"github.com/makiuchi-d/gozxing"
	zxqr "github.com/makiuchi-d/gozxing/qrcode"
)

// scan decodes a PNG with gozxing.
func scan(t *testing.T, pngData []byte) string {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(pngData))
	if err != nil {
		t.Fatal(err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := zxqr.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_PURE_BARCODE: true})
	if err != nil {
		t.Fatal(err)
	}
	return res.GetText()
}

// TestRenderScanVerify renders each kind of code to PNG, scans it back
// with gozxing and verifies what was scanned.
func TestRenderScanVerify(t *testing.T) {
	f := newFixture(t)
	v := f.verifier(t, &MemoryCounters{})
	online, _ := NewOnlineCode(constReader(7), 310000)
	for name, text := range map[string]string{
		"offline":   f.offline(t, 1, nil),
		"delegated": f.delegated(t, 1),
		"static":    f.static,
		"online":    online.String(),
	} {
		sym, err := Encode(text, Medium)
		if err != nil {
			t.Fatal(err)
		}
		data, err := sym.PNG(0)
		if err != nil {
			t.Fatal(err)
		}
		got := scan(t, data)
		if got != text {
			t.Fatalf("%s: scanned %q, rendered %q", name, got, text)
		}
		if name == "online" {
			if c, err := DecodeOnline(got); err != nil || c != online {
				t.Errorf("online: %v", err)
			}
			continue
		}
		if _, err := v.Verify(context.Background(), got, VerifyOptions{}); err != nil {
			t.Errorf("%s: scanned code does not verify: %v", name, err)
		}
	}
}

func TestRenderFormats(t *testing.T) {
	f := newFixture(t)
	sym, err := Encode(f.static, Medium)
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{MinImageSize - 1, MaxImageSize + 1, -5} {
		if _, err := sym.PNG(size); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("PNG size %d: %v", size, err)
		}
		if _, err := sym.SVG(size); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("SVG size %d: %v", size, err)
		}
	}
	big, _ := Encode(f.delegated(t, 1), Medium)
	if _, err := big.PNG(MinImageSize); big.Modules <= MinImageSize || !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("a %d-module barcode in %d pixels: %v", big.Modules, MinImageSize, err)
	}
	data, err := sym.PNG(600)
	if err != nil {
		t.Fatal(err)
	}
	img, _ := png.Decode(bytes.NewReader(data))
	if b := img.Bounds(); b.Dx() != 600 || b.Dy() != 600 {
		t.Errorf("PNG is %v", b)
	}
	svg, err := sym.SVG(400)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		XMLName xml.Name `xml:"svg"`
		Width   string   `xml:"width,attr"`
		Path    struct {
			D string `xml:"d,attr"`
		} `xml:"path"`
	}
	if err := xml.Unmarshal(svg, &doc); err != nil || doc.Width != "400" || !strings.HasPrefix(doc.Path.D, "M4 4h7v1h-7z") {
		t.Errorf("SVG: %v %q %.40q", err, doc.Width, doc.Path.D)
	}
	term := sym.Terminal(false)
	lines := strings.Split(strings.TrimSuffix(term, "\n"), "\n")
	if len(lines) != (sym.Modules+1)/2 || len([]rune(lines[0])) != sym.Modules {
		t.Errorf("terminal: %d lines of %d runes for %d modules", len(lines), len([]rune(lines[0])), sym.Modules)
	}
	if _, err := Encode(strings.Repeat("A", 5000), Medium); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("oversized: %v", err)
	}
}
