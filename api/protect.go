package api

import (
	"context"
	"errors"
	"net/http"
)

// Principal is the authenticated caller of a protected route.
type Principal struct {
	ClientID string
	Scopes   []string
	Region   string // the client's home region
}

// Authorizer checks a request's credentials for a scope. It returns the
// caller, or an error that mapError turns into 401 (no or bad token) or 403
// (valid token without the scope).
type Authorizer interface {
	Authorize(r *http.Request, scope string) (Principal, error)
}

type principalKey struct{}

// PrincipalFrom returns the caller that protect authenticated.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// SetAuthorizer installs the authorizer used by protected routes. Until one
// is set every protected route fails closed with 503.
func (s *Server) SetAuthorizer(a Authorizer) { s.authz = a }

// protect wraps h so that only callers holding scope reach it. Routes
// lists a route registered with a protected handler with its scope.
func (s *Server) protect(scope string, h http.Handler) http.Handler {
	return &protected{s: s, scope: scope, h: h}
}

// protectCountingFailures is protect, with the requests that fail
// authentication or authorization counted per source address
// (ClientAddress) against rl: over it they get 429 rather than 401 or
// 403. Authenticated requests are not counted against it (their handler
// limits them per client), so a flood of bad requests from a shared
// address (a proxy, a carrier NAT) does not block the clients that
// authenticate from it. A nil limiter or a disabled limit counts nothing.
func (s *Server) protectCountingFailures(scope string, l Limiter, rl RateLimit, h http.Handler) http.Handler {
	p := &protected{s: s, scope: scope, h: h}
	if l != nil && rl.Enabled() {
		p.failLimiter, p.failLimit = l, rl
	}
	return p
}

// protected is the handler protect returns; handle records its scope.
type protected struct {
	s     *Server
	scope string
	h     http.Handler
	// failLimiter and failLimit, when set, count refused requests per
	// source address (protectCountingFailures).
	failLimiter Limiter
	failLimit   RateLimit
}

func (p *protected) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := p.s
	if s.authz == nil {
		writeError(w, r, s.log, &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "authorization is not configured"})
		return
	}
	pr, err := s.authz.Authorize(r, p.scope)
	if err != nil {
		if p.failLimiter != nil {
			if limited := s.checkRate(w, r, p.failLimiter, p.failLimit, ClientAddress(r)); limited != nil {
				writeError(w, r, s.log, limited)
				return
			}
		}
		var c challenger
		if errors.As(err, &c) {
			w.Header().Set("WWW-Authenticate", c.challenge())
		}
		writeError(w, r, s.log, err)
		return
	}
	p.h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, pr)))
}

// challenger is an authorization error with its own WWW-Authenticate
// challenge (RFC 6750 §3).
type challenger interface{ challenge() string }

// protectedScope finds the protect wrapper in h, looking through
// middleware that exposes its inner handler with Unwrap (such as
// rateLimit), and returns its scope.
func protectedScope(h http.Handler) (string, bool) {
	for range 16 {
		switch x := h.(type) {
		case *protected:
			return x.scope, true
		case interface{ Unwrap() http.Handler }:
			h = x.Unwrap()
		default:
			return "", false
		}
	}
	return "", false
}
