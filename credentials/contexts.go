package credentials

import (
	_ "embed"
	"fmt"
)

// ContextV2 is the base context every credential and presentation names
// first.
const ContextV2 = "https://www.w3.org/ns/credentials/v2"

//go:embed contexts/credentials-v2.jsonld
var contextV2 []byte

// bundled maps each context URL this service knows to its document.
var bundled = map[string][]byte{ContextV2: contextV2}

// Context returns the bundled JSON-LD document for url. Contexts are never
// fetched over the network: an unknown URL is an error.
func Context(url string) ([]byte, error) {
	if doc, ok := bundled[url]; ok {
		return doc, nil
	}
	return nil, fmt.Errorf("%w: context %q is not bundled", ErrUnsupported, url)
}
