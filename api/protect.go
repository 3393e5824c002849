package api

import (
	"context"
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

// protect wraps h so that only callers holding scope reach it.
func (s *Server) protect(scope string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.authz == nil {
			writeError(w, r, s.log, &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "authorization is not configured"})
			return
		}
		p, err := s.authz.Authorize(r, scope)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}
