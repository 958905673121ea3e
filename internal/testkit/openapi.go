package testkit

import (
	"bytes"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// openAPIURL names the document inside the schema compiler; nothing is
// fetched from it.
const openAPIURL = "mem://portrait/openapi.json"

// OpenAPISchema compiles the schema at pointer (e.g.
// "/components/schemas/Envelope") of the OpenAPI 3.1 document doc, whose
// schemas are JSON Schema 2020-12.
func OpenAPISchema(t testing.TB, doc []byte, pointer string) *jsonschema.Schema {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		t.Fatalf("OpenAPI document: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource(openAPIURL, v); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(openAPIURL + "#" + pointer)
	if err != nil {
		t.Fatalf("compile %s of the OpenAPI document: %v", pointer, err)
	}
	return s
}

// ValidateJSON checks raw JSON against s; the error lists every violation.
func ValidateJSON(s *jsonschema.Schema, raw []byte) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	return s.Validate(v)
}
