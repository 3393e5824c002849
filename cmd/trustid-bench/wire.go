package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// wire is one keep-alive HTTP/1.1 connection written and read by hand,
// the timed windows' client (-client wire, the default): a request is
// built into one buffer and sent in one write; the answer's status line
// and headers are read in place, its body by Content-Length or chunked
// coding. Go's http.Client spends about 50 µs of CPU a request here
// (request and header maps, a goroutine hand-off per connection, its
// own read loop), about half a CPU of the machine's two under the
// node's load; a load tool of wrk's kind spends under half of that, so
// less of the machine measures the node. Requests are sent once: an
// error closes the connection, and the next request dials anew.
type wire struct {
	host    string // Host header: the base URL's authority
	addr    string
	src     func() net.IP
	nc      net.Conn
	br      *bufio.Reader
	req     []byte
	timeout time.Duration
}

func newWire(base string, src func() net.IP) (*wire, error) {
	authority, ok := bytes.CutPrefix([]byte(base), []byte("http://"))
	if !ok || len(authority) == 0 || bytes.IndexByte(authority, '/') >= 0 {
		return nil, fmt.Errorf("wire client: base %q is not http://host:port", base)
	}
	return &wire{host: string(authority), addr: string(authority), src: src, timeout: 30 * time.Second}, nil
}

// close drops the connection; the next request dials from the source
// address then current.
func (w *wire) close() {
	if w.nc != nil {
		w.nc.Close()
		w.nc, w.br = nil, nil
	}
}

// roundTrip sends one request and reads its whole answer. The answer's
// headers are returned only with wantHeader.
func (w *wire) roundTrip(method, path string, h http.Header, body []byte, wantHeader bool) (int, []byte, http.Header, error) {
	if w.nc == nil {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: w.src()}, Timeout: 5 * time.Second}
		nc, err := d.Dial("tcp", w.addr)
		if err != nil {
			return 0, nil, nil, err
		}
		w.nc, w.br = nc, bufio.NewReaderSize(nc, 16<<10)
	}
	w.req = append(w.req[:0], method...)
	w.req = append(w.req, ' ')
	w.req = append(w.req, path...)
	w.req = append(w.req, " HTTP/1.1\r\nHost: "...)
	w.req = append(w.req, w.host...)
	w.req = append(w.req, "\r\nUser-Agent: trustid-bench\r\n"...)
	for k, vs := range h {
		for _, v := range vs {
			w.req = append(w.req, k...)
			w.req = append(w.req, ": "...)
			w.req = append(w.req, v...)
			w.req = append(w.req, "\r\n"...)
		}
	}
	if body != nil || method == http.MethodPost || method == http.MethodPut {
		w.req = append(w.req, "Content-Length: "...)
		w.req = strconv.AppendInt(w.req, int64(len(body)), 10)
		w.req = append(w.req, "\r\n"...)
	}
	w.req = append(w.req, "\r\n"...)
	w.req = append(w.req, body...)
	w.nc.SetDeadline(time.Now().Add(w.timeout))
	if _, err := w.nc.Write(w.req); err != nil {
		w.close()
		return 0, nil, nil, err
	}
	status, out, hdr, keep, err := w.readResponse(method, wantHeader)
	if err != nil || !keep {
		w.close()
	}
	return status, out, hdr, err
}

// errMalformed is an answer this client cannot read as HTTP/1.1.
var errMalformed = errors.New("wire client: malformed answer")

// maxWireBody bounds an answer's body; the node's largest (a status
// list, a page) are far smaller.
const maxWireBody = 8 << 20

// readResponse reads one answer, skipping 1xx ones; keep reports
// whether the connection may carry another request.
func (w *wire) readResponse(method string, wantHeader bool) (status int, body []byte, hdr http.Header, keep bool, err error) {
	for {
		line, err := w.line()
		if err != nil {
			return 0, nil, nil, false, err
		}
		// "HTTP/1.1 200 OK"
		if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
			return 0, nil, nil, false, fmt.Errorf("%w: status line %.40q", errMalformed, line)
		}
		status, err = strconv.Atoi(string(line[9:12]))
		if err != nil {
			return 0, nil, nil, false, fmt.Errorf("%w: status line %.40q", errMalformed, line)
		}
		keep = line[7] == '1'
		length, chunked := int64(-1), false
		if wantHeader {
			hdr = http.Header{}
		}
		for {
			line, err := w.line()
			if err != nil {
				return 0, nil, nil, false, err
			}
			if len(line) == 0 {
				break
			}
			k, v, ok := bytes.Cut(line, []byte(":"))
			if !ok {
				return 0, nil, nil, false, fmt.Errorf("%w: header line %.40q", errMalformed, line)
			}
			v = bytes.TrimSpace(v)
			switch {
			case bytes.EqualFold(k, []byte("Content-Length")):
				if length, err = strconv.ParseInt(string(v), 10, 64); err != nil || length < 0 || length > maxWireBody {
					return 0, nil, nil, false, fmt.Errorf("%w: Content-Length %.40q", errMalformed, v)
				}
			case bytes.EqualFold(k, []byte("Transfer-Encoding")):
				chunked = bytes.EqualFold(v, []byte("chunked"))
			case bytes.EqualFold(k, []byte("Connection")):
				if bytes.EqualFold(v, []byte("close")) {
					keep = false
				}
			}
			if hdr != nil {
				hdr.Add(string(k), string(v))
			}
		}
		if status >= 100 && status < 200 {
			continue
		}
		switch {
		case method == http.MethodHead || status == http.StatusNoContent || status == http.StatusNotModified:
		case chunked:
			body, err = w.chunked()
		case length >= 0:
			body = make([]byte, length)
			_, err = io.ReadFull(w.br, body)
		default:
			body, err = io.ReadAll(io.LimitReader(w.br, maxWireBody+1))
			if err == nil && len(body) > maxWireBody {
				err = fmt.Errorf("%w: body over %d bytes", errMalformed, maxWireBody)
			}
			keep = false
		}
		return status, body, hdr, keep && err == nil, err
	}
}

// line reads one CRLF-terminated line without its CRLF; the slice is
// valid until the next read.
func (w *wire) line() ([]byte, error) {
	line, err := w.br.ReadSlice('\n')
	if err != nil {
		return nil, err
	}
	line = bytes.TrimSuffix(line[:len(line)-1], []byte("\r"))
	return line, nil
}

// chunked reads a chunked body (RFC 9112 §7.1), trailers dropped.
func (w *wire) chunked() ([]byte, error) {
	var body []byte
	for {
		line, err := w.line()
		if err != nil {
			return nil, err
		}
		size, _, _ := bytes.Cut(line, []byte(";"))
		n, err := strconv.ParseInt(string(bytes.TrimSpace(size)), 16, 64)
		if err != nil || n < 0 || int64(len(body))+n > maxWireBody {
			return nil, fmt.Errorf("%w: chunk size %.40q", errMalformed, line)
		}
		if n == 0 {
			for {
				line, err := w.line()
				if err != nil {
					return nil, err
				}
				if len(line) == 0 {
					return body, nil
				}
			}
		}
		start := len(body)
		body = append(body, make([]byte, n)...)
		if _, err := io.ReadFull(w.br, body[start:]); err != nil {
			return nil, err
		}
		if line, err := w.line(); err != nil || len(line) != 0 {
			return nil, fmt.Errorf("%w: chunk not followed by CRLF", errMalformed)
		}
	}
}
