// Package webui holds the node's web pages, served under /ui/ by package
// api (MountUI): the holder wallet demo, the counter verifier page, the
// operator view and an index, in Chinese and English. Plain HTML, CSS and
// JavaScript with no build step, embedded in the binary; every script is a
// file (the pages' Content-Security-Policy allows no inline script). Two
// libraries are vendored as they were published on npm (see README.md):
// jsQR decodes QR codes from the camera or an uploaded picture, and
// qrcode-generator draws the wallet's code.
package webui

import (
	"embed"
	"io/fs"
)

//go:embed static
var static embed.FS

// Files returns the pages and assets, by file name (index.html,
// wallet.html, ui.css, ...).
func Files() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded directory exists
	}
	return sub
}
