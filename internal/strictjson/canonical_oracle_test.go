package strictjson

import "bytes"

// canonical is ObjectCanonical's report as a second walk made it before
// the parse made it (Canonical): the oracle of FuzzCanonical. data is a
// document Object accepts.
func canonical(data []byte) bool {
	c := canonScan{data: data}
	return c.value(0) && c.pos == len(data)
}

// canonScan walks a document Check has accepted, so it checks only what
// makes Marshal's encoding differ from it.
type canonScan struct {
	data []byte
	pos  int
}

func (c *canonScan) value(depth int) bool {
	if c.pos >= len(c.data) || depth > MaxDepth {
		return false
	}
	switch c.data[c.pos] {
	case '{':
		c.pos++
		if c.next('}') {
			return true
		}
		var prev []byte
		for first := true; ; first = false {
			k, ok := c.str()
			if !ok || !first && bytes.Compare(prev, k) >= 0 || !c.next(':') || !c.value(depth+1) {
				return false
			}
			prev = k
			if c.next('}') {
				return true
			}
			if !c.next(',') {
				return false
			}
		}
	case '[':
		c.pos++
		if c.next(']') {
			return true
		}
		for {
			if !c.value(depth + 1) {
				return false
			}
			if c.next(']') {
				return true
			}
			if !c.next(',') {
				return false
			}
		}
	case '"':
		_, ok := c.str()
		return ok
	}
	// A number or a literal, written as it is: it ends at a separator.
	start := c.pos
	for ; c.pos < len(c.data); c.pos++ {
		switch c.data[c.pos] {
		case ',', ']', '}':
			return c.pos > start
		case ' ', '\t', '\r', '\n':
			return false
		}
	}
	return c.pos > start
}

// next consumes b if it is the next byte.
func (c *canonScan) next(b byte) bool {
	if c.pos < len(c.data) && c.data[c.pos] == b {
		c.pos++
		return true
	}
	return false
}

// str consumes a string that Marshal writes as it is and returns its
// content.
func (c *canonScan) str() ([]byte, bool) {
	if !c.next('"') {
		return nil, false
	}
	end := bytes.IndexByte(c.data[c.pos:], '"')
	if end < 0 {
		return nil, false
	}
	// Without a backslash, that quote ends the string.
	content := c.data[c.pos : c.pos+end]
	if bytes.IndexByte(content, '\\') >= 0 {
		return nil, false
	}
	for rest := content; ; {
		i := bytes.IndexByte(rest, 0xe2) // U+2028 and U+2029 are E2 80 A8 and E2 80 A9
		if i < 0 {
			break
		}
		if i+2 < len(rest) && rest[i+1] == 0x80 && (rest[i+2] == 0xa8 || rest[i+2] == 0xa9) {
			return nil, false
		}
		rest = rest[i+1:]
	}
	c.pos += end + 1
	return content, true
}
