package credentials

import (
	"fmt"

	"github.com/trustid-cn/trustid/credentials/contexts"
)

// ContextV2 is the base context every credential and presentation names
// first.
const ContextV2 = contexts.CredentialsV2

// Context returns the bundled JSON-LD document for url. Contexts are never
// fetched over the network: an unknown URL is an error.
func Context(url string) ([]byte, error) {
	if doc, ok := contexts.Document(url); ok {
		return doc, nil
	}
	return nil, fmt.Errorf("%w: context %q is not bundled", ErrUnsupported, url)
}
