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

// protected is the handler protect returns; handle records its scope.
type protected struct {
	s     *Server
	scope string
	h     http.Handler
}

func (p *protected) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := p.s
	if s.authz == nil {
		writeError(w, r, s.log, &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "authorization is not configured"})
		return
	}
	pr, err := s.authz.Authorize(r, p.scope)
	if err != nil {
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
