package api

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// UIPrefix is where the web pages are served.
const UIPrefix = "/ui/"

// uiPages maps each page route to its file in UIConfig.Files.
var uiPages = map[string]string{
	"GET /ui/{$}":      "index.html",
	"GET /ui/wallet":   "wallet.html",
	"GET /ui/counter":  "counter.html",
	"GET /ui/operator": "operator.html",
}

// uiTypes are the media types of the assets served under /ui/assets/;
// a file with another extension is not served.
var uiTypes = map[string]string{
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".json": "application/json",
	".txt":  "text/plain; charset=utf-8",
}

// UICSP is the Content-Security-Policy of every page and asset under /ui/:
// scripts and styles from the node's own files only (no inline script or
// style, no eval), images from the node or made in the page (data:, blob:
// for an uploaded picture), requests to the node only, no frames, forms or
// plugins.
const UICSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// UIConfig configures MountUI.
type UIConfig struct {
	// Files holds the pages and assets (package webui's Files). Required.
	Files fs.FS
	// Region is the node's region and Issuer its public base URL, both
	// shown by the pages (GET /ui/config.json).
	Region, Issuer string
	// Demo serves the holder wallet demo's routes under /ui/demo/ when
	// set; nil (the default) serves none of them, and the wallet page
	// says the demo is off.
	Demo DemoWallets
	// Limiter and DemoLimit bound the demo routes per source address;
	// a nil Limiter disables the limit.
	Limiter   Limiter
	DemoLimit RateLimit
}

// DemoWallets are wallets a node keeps for its wallet demo page, each
// enrolled with a made-up identity and a device key the node holds (the
// browser cannot hold one: the QR binding needs an SM2 key, which
// WebCrypto does not offer). Implementations are safe for concurrent use.
type DemoWallets interface {
	// Enroll makes a made-up identity and a device key, enrolls them and
	// returns the new wallet.
	Enroll(ctx context.Context) (*DemoWallet, error)
	// CodeRequest returns the device-signed body of POST /v1/qr for
	// wallet id, releasing the consented claims. ErrDemoWallet when the
	// wallet is unknown or expired; ErrDemoRequest for a claim the wallet
	// cannot release.
	CodeRequest(ctx context.Context, id string, consent []string) (json.RawMessage, error)
	// Present returns an SD-JWT VC presentation of wallet id's identity
	// credential disclosing only the named claims, with a key binding for
	// audience and nonce. Errors as for CodeRequest.
	Present(ctx context.Context, id string, disclose []string, audience, nonce string) (string, error)
	// Extend keeps wallet id for its whole lifetime again from now (the
	// page's "keep it", WCAG 2.2.1 Extend) and returns how long that is.
	// ErrDemoWallet when the wallet is unknown or expired.
	Extend(ctx context.Context, id string) (time.Duration, error)
}

// Errors of DemoWallets.
var (
	ErrDemoWallet  = errors.New("api: no such demo wallet")
	ErrDemoRequest = errors.New("api: demo wallet request refused")
)

// DemoWallet is what the wallet page shows of a demo wallet.
type DemoWallet struct {
	// ID is the wallet's handle, a random string the page keeps in
	// memory.
	ID string `json:"wallet"`
	// Name and Document are the made-up identity, masked.
	Name     string `json:"name"`
	Document string `json:"document"`
	// AssuranceLevel is the enrollment's level, "L1".."L4".
	AssuranceLevel string `json:"assurance_level"`
	// Region is the binding's region.
	Region string `json:"region"`
	// Consent lists the claims an online code may release; Disclosable
	// the claims of the identity credential a presentation may disclose.
	Consent     []string `json:"consent"`
	Disclosable []string `json:"disclosable"`
	// ExpiresAt is when the node forgets the wallet, ExpiresIn how many
	// seconds from now that is (the page times its warning by it, not by
	// its own clock against ExpiresAt).
	ExpiresAt time.Time `json:"expires_at"`
	ExpiresIn int64     `json:"expires_in"`
}

// MountUI serves the web pages (GET /ui/, /ui/wallet, /ui/counter,
// /ui/operator), their assets (GET /ui/assets/{file}) and the figures the
// pages need (GET /ui/config.json); with cfg.Demo, the wallet demo's
// routes too:
//
//	POST /ui/demo/wallets                     enroll a made-up identity
//	POST /ui/demo/wallets/{id}/code-request   a device-signed POST /v1/qr body
//	POST /ui/demo/wallets/{id}/presentation   an SD-JWT presentation
//	POST /ui/demo/wallets/{id}/extend         keep the wallet another lifetime
func (s *Server) MountUI(cfg UIConfig) error {
	if cfg.Files == nil {
		return errors.New("api: UIConfig.Files is required")
	}
	for _, name := range uiPages {
		if _, err := fs.Stat(cfg.Files, name); err != nil {
			return errors.New("api: UIConfig.Files lacks " + name)
		}
	}
	u := &uiHandlers{s: s, cfg: cfg, etags: map[string]string{}}
	s.ui = true
	// Each asset's ETag, so that a browser revalidates it (no-cache) with
	// a 304 instead of fetching it again: the login page loads
	// qrcode-generator.js for every login.
	err := fs.WalkDir(cfg.Files, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(cfg.Files, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		u.etags[name] = `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
		return nil
	})
	if err != nil {
		return fmt.Errorf("api: UIConfig.Files: %w", err)
	}
	for pattern, file := range uiPages {
		s.handleFunc(pattern, u.page(file))
	}
	// The bare node address: the index of the pages.
	s.handle("GET /{$}", http.RedirectHandler(UIPrefix, http.StatusFound))
	s.handleFunc("GET /ui/assets/{file}", u.asset)
	s.handleFunc("GET /ui/config.json", u.config)
	if cfg.Demo != nil {
		cfg.DemoLimit.Name = "ui-demo-addr"
		limited := func(h func(http.ResponseWriter, *http.Request) error) http.Handler {
			inner := s.rateLimit(cfg.Limiter, cfg.DemoLimit, ClientAddress, errorHandler(s, func(w http.ResponseWriter, r *http.Request) error {
				w.Header().Set("Cache-Control", "no-store")
				// Another site's page must not make its visitors' browsers
				// enroll demo identities (a body-less POST needs no CORS
				// preflight): browsers say where a request comes from.
				if crossOrigin.Check(r) != nil {
					return &Error{Status: http.StatusForbidden, Code: CodeCrossSiteRequest, Message: "the wallet demo answers only its own pages"}
				}
				return h(w, r)
			}))
			// The limiter's refusals (429, 503) are /ui/ responses too.
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				uiHeaders(w)
				inner.ServeHTTP(w, r)
			})
		}
		s.handle("POST /ui/demo/wallets", limited(u.demoEnroll))
		s.handle("POST /ui/demo/wallets/{id}/code-request", limited(u.demoCodeRequest))
		s.handle("POST /ui/demo/wallets/{id}/presentation", limited(u.demoPresent))
		s.handle("POST /ui/demo/wallets/{id}/extend", limited(u.demoExtend))
	}
	return nil
}

// crossOrigin refuses the demo routes and a login page's restart and
// "More time" to other origins' pages (a sibling host of the same site
// too, whose requests carry the node's SameSite=Lax cookies): by
// Sec-Fetch-Site, or, from a browser that sends no Fetch Metadata, by an
// Origin other than the node's host. A client that is no browser sends
// neither and is served.
var crossOrigin = http.NewCrossOriginProtection()

type uiHandlers struct {
	s     *Server
	cfg   UIConfig
	etags map[string]string // by file name
}

// uiHeaders sets the security headers of every /ui/ response.
func uiHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", UICSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	// The counter page may use the camera; nothing else may.
	h.Set("Permissions-Policy", "camera=(self), microphone=(), geolocation=(), payment=()")
}

var errUINotFound = &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: "no such page"}

func (u *uiHandlers) page(file string) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		uiHeaders(w)
		b, err := fs.ReadFile(u.cfg.Files, file)
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		w.Write(b)
		return nil
	}
}

func (u *uiHandlers) asset(w http.ResponseWriter, r *http.Request) error {
	uiHeaders(w)
	name := r.PathValue("file")
	ctype, ok := uiTypes[path.Ext(name)]
	if !ok || !fs.ValidPath(name) || strings.HasSuffix(name, ".html") {
		return errUINotFound
	}
	b, err := fs.ReadFile(u.cfg.Files, name)
	if errors.Is(err, fs.ErrNotExist) {
		return errUINotFound
	}
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Cache-Control", "no-cache")
	if etag, ok := u.etags[name]; ok {
		h.Set("ETag", etag)
	}
	serveWhole(w, r, b)
	return nil
}

// uiConfig is GET /ui/config.json: what the pages show of the node.
type uiConfig struct {
	Region string `json:"region"`
	Issuer string `json:"issuer"`
	Demo   bool   `json:"demo"`
}

func (u *uiHandlers) config(w http.ResponseWriter, r *http.Request) error {
	uiHeaders(w)
	w.Header().Set("Cache-Control", "no-cache")
	writeJSON(w, uiConfig{Region: u.cfg.Region, Issuer: u.cfg.Issuer, Demo: u.cfg.Demo != nil})
	return nil
}

// maxDemoBody bounds a demo request.
const maxDemoBody = 4 << 10

// demoError maps the demo wallets' errors.
func demoError(err error) error {
	switch {
	case errors.Is(err, ErrDemoWallet):
		return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: "no such demo wallet (it expired, or the node restarted): enroll again", Err: err}
	case errors.Is(err, ErrDemoRequest):
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "the wallet cannot release or disclose a claim named", Err: err}
	}
	return err
}

func demoBad(format string, args ...any) error {
	return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "invalid demo request"}
}

func (u *uiHandlers) demoEnroll(w http.ResponseWriter, r *http.Request) error {
	wal, err := u.cfg.Demo.Enroll(r.Context())
	if err != nil {
		return demoError(err)
	}
	u.s.log.Info("demo wallet enrolled", "request_id", requestID(r.Context()), "assurance_level", wal.AssuranceLevel)
	writeJSONStatus(w, http.StatusCreated, wal)
	return nil
}

func (u *uiHandlers) demoCodeRequest(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Consent []string `json:"consent"`
	}
	if err := decodeBody(r, maxDemoBody, &req, demoBad, `{"consent": [claim names]}`); err != nil {
		return err
	}
	body, err := u.cfg.Demo.CodeRequest(r.Context(), r.PathValue("id"), req.Consent)
	if err != nil {
		return demoError(err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
	return nil
}

func (u *uiHandlers) demoPresent(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Disclose []string `json:"disclose"`
		Audience string   `json:"audience"`
		Nonce    string   `json:"nonce"`
	}
	if err := decodeBody(r, maxDemoBody, &req, demoBad, `{"disclose": [claim names], "audience", "nonce"}`); err != nil {
		return err
	}
	if req.Audience == "" || req.Nonce == "" || len(req.Audience) > 512 || len(req.Nonce) > 256 {
		return demoBad("")
	}
	p, err := u.cfg.Demo.Present(r.Context(), r.PathValue("id"), req.Disclose, req.Audience, req.Nonce)
	if err != nil {
		return demoError(err)
	}
	writeJSON(w, map[string]string{"presentation": p})
	return nil
}

// demoExtend keeps a demo wallet for another lifetime, as its page asks
// before the node would forget it: {"expires_in": seconds}.
func (u *uiHandlers) demoExtend(w http.ResponseWriter, r *http.Request) error {
	left, err := u.cfg.Demo.Extend(r.Context(), r.PathValue("id"))
	if err != nil {
		return demoError(err)
	}
	writeJSON(w, map[string]int64{"expires_in": int64(left / time.Second)})
	return nil
}
