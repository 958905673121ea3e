package api

import (
	_ "embed"
	"net/http"
)

// OpenAPIPath is where the service serves its OpenAPI document.
const OpenAPIPath = "/openapi.json"

// openAPI is the OpenAPI 3.1 document of the API, kept by hand beside the
// code it describes; its tests hold it to the server's code table and to
// every golden answer of the project.
//
//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the OpenAPI 3.1 document of the API. The slice is shared:
// callers must not modify it.
func OpenAPI() []byte { return openAPI }

func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Write(openAPI)
}
