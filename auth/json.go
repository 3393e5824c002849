package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// maxJSONDepth bounds nesting in documents this package decodes.
const maxJSONDepth = 16

// decodeStrict decodes one JSON value into v, rejecting invalid UTF-8,
// repeated object keys at any depth, nesting deeper than maxJSONDepth,
// unknown fields and trailing data. encoding/json alone lets the last of
// two repeated keys win, which would let two parsers of one document
// disagree.
func decodeStrict(data []byte, v any) error {
	if !utf8.Valid(data) {
		return errors.New("invalid UTF-8")
	}
	if err := checkJSONKeys(json.NewDecoder(bytes.NewReader(data))); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// checkJSONKeys walks one JSON value token by token.
func checkJSONKeys(dec *json.Decoder) error {
	type frame struct {
		object bool
		keys   map[string]bool
		key    bool // the next token in an object is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			if err == io.EOF && len(stack) > 0 {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		if n := len(stack); n > 0 {
			top := stack[n-1]
			if top.object && top.key {
				if d, ok := tok.(json.Delim); ok && d == '}' {
					stack = stack[:n-1]
					goto next
				}
				k := tok.(string)
				if top.keys[k] {
					return fmt.Errorf("repeated key %q", truncate(k))
				}
				top.keys[k] = true
				top.key = false
				continue
			}
			if top.object {
				top.key = true
			}
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{':
				stack = append(stack, &frame{object: true, keys: map[string]bool{}, key: true})
			case '[':
				stack = append(stack, &frame{})
			case ']':
				stack = stack[:len(stack)-1]
			}
			if len(stack) > maxJSONDepth {
				return fmt.Errorf("nested deeper than %d", maxJSONDepth)
			}
		}
	next:
		if len(stack) == 0 {
			return nil
		}
	}
}
