package api

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Route is a pattern the server serves and the scope protect requires for
// it; Scope is empty for a public route.
type Route struct {
	Pattern string `json:"route"`
	Scope   string `json:"scope,omitempty"`
}

// router is the server's muxes with a record of every pattern registered
// on them. Routes reach the muxes only through handle, so a route
// registered without protect is listed too, as public.
type router struct {
	// serve routes requests: the routes and a catch-all "/" for what
	// none of them matches (Server.Handler).
	serve *http.ServeMux
	// mux holds the routes alone; its Handler tells whether a request
	// matches one and, if not, what ServeMux would answer (notRouted).
	mux *http.ServeMux
	// exact holds the routes whose pattern is a method and a literal
	// path (exactPath), by both, for Server.Handler to find without
	// ServeMux's cleaning, escaping and tree walk; replaced whole on each
	// registration, read without a lock. Nil once a pattern may name a
	// host (hosts): ServeMux prefers a host's routes, which the table
	// does not know.
	exact  atomic.Pointer[map[methodPath]exactRoute]
	mu     sync.Mutex
	routes []Route
	// hosts: a pattern's path does not start right after its method and
	// one space, or the pattern itself; it may name a host.
	hosts bool
}

// methodPath is the key of router.exact.
type methodPath struct{ method, path string }

// exactRoute is a route of router.exact.
type exactRoute struct {
	pattern string
	h       http.Handler
}

func newRouter() *router {
	return &router{serve: http.NewServeMux(), mux: http.NewServeMux()}
}

// handle registers h for pattern and records the route with the scope of
// the protect wrapper found in h (through Unwrap), if any.
func (rt *router) handle(pattern string, h http.Handler) {
	scope, _ := protectedScope(h)
	rt.mux.Handle(pattern, h)
	rt.serve.Handle(pattern, h)
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.routes = append(rt.routes, Route{Pattern: pattern, Scope: scope})
	method, p, ok := exactPath(pattern)
	rt.hosts = rt.hosts || !strings.HasPrefix(p, "/")
	if rt.hosts {
		rt.exact.Store(nil)
		return
	}
	if ok {
		exact := map[methodPath]exactRoute{}
		if old := rt.exact.Load(); old != nil {
			exact = maps.Clone(*old)
		}
		exact[methodPath{method, p}] = exactRoute{pattern, h}
		rt.exact.Store(&exact)
	}
}

// lookup returns the route of r's method and path when it is in exact:
// then it is the route ServeMux would choose (FuzzRoutingMatchesTwoLookups).
// A request ServeMux might treat otherwise is not looked up: CONNECT, and
// a path sent escaped (RawPath set), which ServeMux reads unescaped.
// Every other request's path is the URL's as sent; a literal pattern's
// path is clean and unescaped, so ServeMux, matching it, would neither
// redirect nor prefer any other route of the same method.
func (rt *router) lookup(r *http.Request) (exactRoute, bool) {
	exact := rt.exact.Load()
	if exact == nil || r.URL.RawPath != "" || r.Method == http.MethodConnect {
		return exactRoute{}, false
	}
	e, ok := (*exact)[methodPath{r.Method, r.URL.Path}]
	return e, ok
}

// exactPath splits pattern into its method and the rest (a path, or a
// host and path). ok reports whether pattern is a method other than
// CONNECT, one space and a clean path of unreserved characters and '/'
// (which no escaping changes), without wildcards or trailing slash.
func exactPath(pattern string) (method, rest string, ok bool) {
	method, rest, found := strings.Cut(pattern, " ")
	if !found {
		return "", pattern, false
	}
	if method == "" || method == http.MethodConnect || strings.HasSuffix(rest, "/") || path.Clean(rest) != rest {
		return method, rest, false
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
			return method, rest, false
		}
	}
	return method, rest, true
}

// Routes lists every route registered so far, in registration order.
func (s *Server) Routes() []Route {
	s.router.mu.Lock()
	defer s.router.mu.Unlock()
	return slices.Clone(s.router.routes)
}

// CheckRoutes holds routes (a server's Routes) to what was declared for
// them: protected maps each pattern that needs a token to its scope, and
// public lists the patterns that are public by design. It returns an error
// naming every route served without protect that is not in public, every
// route served with a scope other than its entry in protected (or with
// none), and every declared pattern that is not served; nil when routes
// and the declarations agree.
func CheckRoutes(routes []Route, protected map[string]string, public []string) error {
	isPublic := map[string]bool{}
	for _, p := range public {
		isPublic[p] = true
	}
	var errs []error
	served := map[string]bool{}
	for _, r := range routes {
		served[r.Pattern] = true
		want, listed := protected[r.Pattern]
		switch {
		case r.Scope == "" && listed:
			errs = append(errs, fmt.Errorf("route %q is served without protect, but needs scope %s", r.Pattern, want))
		case r.Scope == "" && !isPublic[r.Pattern]:
			errs = append(errs, fmt.Errorf("route %q is served without protect and is not in the public allow-list", r.Pattern))
		case r.Scope != "" && !listed:
			errs = append(errs, fmt.Errorf("protected route %q (scope %s) is not in the protected table", r.Pattern, r.Scope))
		case r.Scope != "" && want != r.Scope:
			errs = append(errs, fmt.Errorf("route %q is served with scope %s, but the table says %s", r.Pattern, r.Scope, want))
		}
		if r.Scope != "" && isPublic[r.Pattern] {
			errs = append(errs, fmt.Errorf("protected route %q (scope %s) is in the public allow-list", r.Pattern, r.Scope))
		}
	}
	declared := slices.Concat(public, slices.Collect(maps.Keys(protected)))
	slices.Sort(declared)
	for _, p := range slices.Compact(declared) {
		if !served[p] {
			errs = append(errs, fmt.Errorf("route %q is declared but not served", p))
		}
	}
	return errors.Join(errs...)
}
