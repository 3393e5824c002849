package api

import (
	_ "embed"
	"net/http"
)

// openAPIDoc is the OpenAPI 3.1 document of every route a node serves,
// kept by hand beside the handlers. internal/apispec's tests hold it to the
// router and to real responses (docs/api.md).
//
//go:embed openapi.json
var openAPIDoc []byte

// OpenAPI returns the OpenAPI 3.1 document (JSON) served at
// GET /openapi.json. The caller must not modify it.
func OpenAPI() []byte { return openAPIDoc }

// MountOpenAPI serves the OpenAPI document at GET /openapi.json.
func (s *Server) MountOpenAPI() {
	s.handle("GET /openapi.json", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Write(openAPIDoc)
	}))
}
