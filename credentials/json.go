package credentials

import (
	"fmt"

	"github.com/trustid-cn/trustid/internal/strictjson"
)

// ParseJSONObject decodes untrusted JSON strictly (bounded by MaxDocument,
// no duplicate keys, no trailing data) into a map. Errors match
// ErrMalformed and the specific strict-JSON error.
func ParseJSONObject(data []byte) (map[string]any, error) {
	m, err := strictjson.Object(data, MaxDocument+16<<10)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return m, nil
}
