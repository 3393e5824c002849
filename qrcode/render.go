package qrcode

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"strconv"
	"strings"

	skip "github.com/skip2/go-qrcode"
)

// Level is a QR error-correction level.
type Level uint8

// Error-correction levels. The zero value is Medium, the level the size
// targets of this package are stated for.
const (
	Medium  Level = iota // 15% of codewords may be restored
	Low                  // 7%
	High                 // 25%
	Highest              // 30%
)

func (l Level) skip() skip.RecoveryLevel {
	switch l {
	case Low:
		return skip.Low
	case High:
		return skip.High
	case Highest:
		return skip.Highest
	}
	return skip.Medium
}

// Size bounds of rendered images, in pixels.
const (
	MinImageSize     = 64
	MaxImageSize     = 2048
	DefaultImageSize = 320
)

// Barcode is an encoded QR code (the rendered barcode, not an identity
// symbol), ready to render.
type Barcode struct {
	// Version is the QR version (1 to 40) the payload needed.
	Version int
	// Modules is the side in modules, including the 4-module quiet zone.
	Modules int
	bits    [][]bool
}

// Encode makes the barcode for a payload at the given level, choosing
// the smallest version that holds it. A TrustID payload (prefix and base45)
// is entirely in the QR alphanumeric set, so it is encoded in alphanumeric
// mode.
func Encode(text string, level Level) (*Barcode, error) {
	if text == "" || len(text) > MaxOfflineLen {
		return nil, fmt.Errorf("%w: payload of %d characters", ErrInvalidArgument, len(text))
	}
	q, err := skip.New(text, level.skip())
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTooLarge, err)
	}
	q.DisableBorder = false
	bits := q.Bitmap()
	return &Barcode{Version: q.VersionNumber, Modules: len(bits), bits: bits}, nil
}

// QRVersion returns the version of the barcode holding text at level.
func QRVersion(text string, level Level) (int, error) {
	s, err := Encode(text, level)
	if err != nil {
		return 0, err
	}
	return s.Version, nil
}

func checkImageSize(size int) (int, error) {
	if size == 0 {
		return DefaultImageSize, nil
	}
	if size < MinImageSize || size > MaxImageSize {
		return 0, fmt.Errorf("%w: image size %d outside [%d, %d]", ErrInvalidArgument, size, MinImageSize, MaxImageSize)
	}
	return size, nil
}

// Image draws the barcode in a size×size image (0 means DefaultImageSize),
// each module an equal whole number of pixels, centred on white. A size
// smaller than the barcode's modules is refused.
func (s *Barcode) Image(size int) (*image.Paletted, error) {
	size, err := checkImageSize(size)
	if err != nil {
		return nil, err
	}
	scale := size / s.Modules
	if scale < 1 {
		return nil, fmt.Errorf("%w: %d pixels cannot hold %d modules", ErrInvalidArgument, size, s.Modules)
	}
	img := image.NewPaletted(image.Rect(0, 0, size, size), color.Palette{color.White, color.Black})
	off := (size - scale*s.Modules) / 2
	for y, row := range s.bits {
		for x, dark := range row {
			if !dark {
				continue
			}
			for dy := 0; dy < scale; dy++ {
				i := img.PixOffset(off+x*scale, off+y*scale+dy)
				for dx := 0; dx < scale; dx++ {
					img.Pix[i+dx] = 1
				}
			}
		}
	}
	return img, nil
}

// PNG renders the barcode as a size×size two-colour PNG.
func (s *Barcode) PNG(size int) ([]byte, error) {
	img, err := s.Image(size)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&b, img); err != nil {
		return nil, fmt.Errorf("qrcode: png: %w", err)
	}
	return b.Bytes(), nil
}

// SVG renders the barcode as a size×size SVG: one path of dark runs over
// a white square, crisp at any print size.
func (s *Barcode) SVG(size int) ([]byte, error) {
	size, err := checkImageSize(size)
	if err != nil {
		return nil, err
	}
	n := strconv.Itoa(s.Modules)
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %s %s" shape-rendering="crispEdges">`, size, size, n, n)
	b.WriteString(`<rect width="` + n + `" height="` + n + `" fill="#fff"/><path fill="#000" d="`)
	for y, row := range s.bits {
		for x := 0; x < len(row); {
			if !row[x] {
				x++
				continue
			}
			run := 1
			for x+run < len(row) && row[x+run] {
				run++
			}
			fmt.Fprintf(&b, "M%d %dh%dv1h-%dz", x, y, run, run)
			x += run
		}
	}
	b.WriteString(`"/></svg>` + "\n")
	return []byte(b.String()), nil
}

// Terminal renders the barcode with Unicode half blocks, two module rows
// per text line. By default light modules are drawn (for light text on a
// dark terminal); invert draws dark modules instead.
func (s *Barcode) Terminal(invert bool) string {
	var b strings.Builder
	on := func(y, x int) bool {
		if y >= len(s.bits) {
			return !invert // the row below the last is quiet zone (light)
		}
		return s.bits[y][x] == invert
	}
	for y := 0; y < len(s.bits); y += 2 {
		for x := range s.bits[y] {
			top, bottom := on(y, x), on(y+1, x)
			switch {
			case top && bottom:
				b.WriteString("█")
			case top:
				b.WriteString("▀")
			case bottom:
				b.WriteString("▄")
			default:
				b.WriteByte(' ')
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}
