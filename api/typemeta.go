package api

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/trustid-cn/trustid/credentials"
)

// TypeMetadataPath is where a node serves the SD-JWT VC Type Metadata of
// the types it defines: TypeMetadataPath + "/" + vct.
const TypeMetadataPath = "/vct"

// MountTypeMetadata serves GET /vct/{vct}: the SD-JWT VC Type Metadata
// (draft-ietf-oauth-sd-jwt-vc) of each of types, by its vct; a vct the
// node does not define is 404 not_found. Each document must pass
// TypeMetadata.Check, and a vct may appear once.
func (s *Server) MountTypeMetadata(types []credentials.TypeMetadata) error {
	docs := map[string][]byte{}
	for _, t := range types {
		if err := t.Check(); err != nil {
			return err
		}
		if _, dup := docs[t.VCT]; dup {
			return fmt.Errorf("api: type metadata for %q given twice", t.VCT)
		}
		b, err := json.Marshal(t)
		if err != nil {
			return err
		}
		docs[t.VCT] = b
	}
	s.handleFunc("GET "+TypeMetadataPath+"/{vct}", func(w http.ResponseWriter, r *http.Request) error {
		doc, ok := docs[r.PathValue("vct")]
		if !ok {
			return &Error{Status: http.StatusNotFound, Code: "not_found", Message: "no type metadata for this vct"}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Write(doc)
		return nil
	})
	return nil
}
