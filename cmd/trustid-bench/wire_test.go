package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestWireRoundTrip holds the hand-written client to Go's server: bodies
// by Content-Length and chunked, answers without a body, headers, the
// request's own headers and body, and one connection kept across
// requests until the server says close.
func TestWireRoundTrip(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/echo":
			body, _ := io.ReadAll(r.Body)
			w.Header().Set("X-Got", r.Method+" "+r.Header.Get("X-Test")+" "+r.Host)
			w.Write(body)
		case "/chunked":
			w.Write([]byte("first "))
			w.(http.Flusher).Flush()
			w.Write([]byte("second"))
		case "/none":
			w.WriteHeader(http.StatusNoContent)
		case "/close":
			w.Header().Set("Connection", "close")
			w.Write([]byte("bye"))
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	w, err := newWire(srv.URL, func() net.IP { return net.IPv4(127, 0, 0, 1) })
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()

	status, body, hdr, err := w.roundTrip("POST", "/echo", http.Header{"X-Test": {"yes"}}, []byte("hello"), true)
	host := strings.TrimPrefix(srv.URL, "http://")
	if err != nil || status != 200 || string(body) != "hello" || hdr.Get("X-Got") != "POST yes "+host {
		t.Fatalf("echo: %d %q %v %v", status, body, hdr, err)
	}
	if _, _, hdr, _ := w.roundTrip("GET", "/echo", nil, nil, false); hdr != nil {
		t.Errorf("headers returned unasked: %v", hdr)
	}
	if status, body, _, err := w.roundTrip("GET", "/chunked", nil, nil, false); err != nil || status != 200 || string(body) != "first second" {
		t.Fatalf("chunked: %d %q %v", status, body, err)
	}
	if status, body, _, err := w.roundTrip("DELETE", "/none", nil, nil, false); err != nil || status != 204 || len(body) != 0 {
		t.Fatalf("no content: %d %q %v", status, body, err)
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections for four requests, want 1", n)
	}
	if status, body, _, err := w.roundTrip("GET", "/close", nil, nil, false); err != nil || status != 200 || string(body) != "bye" {
		t.Fatalf("close: %d %q %v", status, body, err)
	}
	if w.nc != nil {
		t.Fatal("connection kept after Connection: close")
	}
	if status, _, _, err := w.roundTrip("GET", "/echo", nil, nil, false); err != nil || status != 200 {
		t.Fatalf("after close: %d %v", status, err)
	}
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d connections, want a second after close", n)
	}
}

// TestWireMalformed: an answer that is not HTTP/1.1 is an error and the
// connection is dropped.
func TestWireMalformed(t *testing.T) {
	for _, answer := range []string{
		"HTTP/2 200 OK\r\n\r\n",
		"HTTP/1.1 2x0 OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 999999999999\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n",
	} {
		w := &wire{br: bufio.NewReader(strings.NewReader(answer))}
		if _, _, _, _, err := w.readResponse("GET", false); !errors.Is(err, errMalformed) {
			t.Errorf("%q: %v, want errMalformed", answer, err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		bufio.NewReader(c).ReadString('\n')
		c.Write([]byte("garbage\r\n\r\n"))
	}()
	w, err := newWire("http://"+ln.Addr().String(), func() net.IP { return net.IPv4(127, 0, 0, 1) })
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := w.roundTrip("GET", "/", nil, nil, false); !errors.Is(err, errMalformed) || w.nc != nil {
		t.Fatalf("garbage answer: %v, connection kept %v", err, w.nc != nil)
	}
	if _, err := newWire("https://example.test", nil); err == nil {
		t.Error("https base accepted")
	}
}

// FuzzWireResponse: any answer is read without a panic, within
// maxWireBody; where Go's http.ReadResponse reads the same bytes as a
// Content-Length answer, both find the same status and body.
func FuzzWireResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"))
	f.Add([]byte("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nT: 1\r\n\r\n"))
	f.Add([]byte("HTTP/1.0 200 OK\r\n\r\nuntil close"))
	f.Fuzz(func(t *testing.T, answer []byte) {
		w := &wire{br: bufio.NewReader(bytes.NewReader(answer))}
		status, body, _, _, err := w.readResponse("GET", false)
		if err != nil {
			return
		}
		if len(body) > maxWireBody {
			t.Fatalf("body of %d bytes", len(body))
		}
		resp, gerr := http.ReadResponse(bufio.NewReader(bytes.NewReader(answer)), nil)
		if gerr != nil || resp.ContentLength < 0 || len(resp.TransferEncoding) > 0 || status < 200 || resp.StatusCode < 200 {
			return
		}
		gbody, gerr := io.ReadAll(resp.Body)
		if gerr == nil && (resp.StatusCode != status || !bytes.Equal(gbody, body)) {
			t.Fatalf("wire %d %q, net/http %d %q", status, body, resp.StatusCode, gbody)
		}
	})
}
