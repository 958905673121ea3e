package api

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portrait-id/portrait/client"
	"github.com/portrait-id/portrait/internal/testkit"
	"github.com/portrait-id/portrait/protocol"
	"github.com/portrait-id/portrait/verify"
)

func TestOpenAPIServed(t *testing.T) {
	f := newFixture(t, verify.Outcome{})
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+OpenAPIPath, nil)
	res, body := do(t, req)
	checkEnvelopeHeaders(t, res, http.StatusOK)
	if !bytes.Equal(body, OpenAPI()) {
		t.Errorf("GET %s is not the embedded document", OpenAPIPath)
	}
	var doc struct{ OpenAPI string }
	if err := json.Unmarshal(body, &doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.1.") {
		t.Errorf("not an OpenAPI 3.1 document: openapi %q, %v", doc.OpenAPI, err)
	}
}

// Every answer any test of the project pins in a golden file is one the
// document allows. Goldens are found by content (a top-level trace_id and
// code), so that new ones are held to the document without being listed.
func TestOpenAPIGoldens(t *testing.T) {
	envelope := testkit.OpenAPISchema(t, OpenAPI(), "/components/schemas/Envelope")
	dirs := map[string]int{}
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if d.IsDir() || filepath.Ext(path) != ".json" || !strings.Contains(filepath.ToSlash(path), "/testdata/") {
			return nil
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var top map[string]json.RawMessage
		if json.Unmarshal(raw, &top) != nil || top["trace_id"] == nil || top["code"] == nil {
			return nil
		}
		dirs[filepath.Dir(path)]++
		// The e2e goldens stand a placeholder for the live score, whose
		// value those tests check against the pipeline's.
		raw = bytes.ReplaceAll(raw, []byte(`"<0..100, at most 2 decimals>"`), []byte("87.53"))
		if err := testkit.ValidateJSON(envelope, raw); err != nil {
			t.Errorf("%s: %v", path, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"../api/testdata/golden", "../e2e/testdata/golden"} {
		if n := dirs[filepath.FromSlash(dir)]; n < 20 {
			t.Errorf("only %d golden answers found in %s: %v", n, dir, dirs)
		}
	}
	t.Logf("golden answers validated per directory: %v", dirs)
}

// openAPIDoc is what the tests read of the document.
type openAPIDoc struct {
	Paths map[string]map[string]struct {
		RequestBody struct {
			Content map[string]mediaType
		}
		Responses map[string]struct {
			Content map[string]mediaType
		}
	}
	Components struct {
		Schemas struct {
			Code struct {
				OneOf []struct {
					Const string
					Title string
				}
			}
		}
		Examples map[string]example
	}
}

type mediaType struct {
	Schema struct {
		Ref string `json:"$ref"`
	}
	Examples map[string]example
}

type example struct {
	Ref   string `json:"$ref"`
	Value json.RawMessage
}

func readOpenAPI(t *testing.T) openAPIDoc {
	t.Helper()
	var doc openAPIDoc
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// The document lists exactly the codes the server has, with the document's
// texts, and shows an answer of each.
func TestOpenAPICodes(t *testing.T) {
	doc := readOpenAPI(t)
	listed := map[client.Code]string{}
	for _, c := range doc.Components.Schemas.Code.OneOf {
		listed[client.Code(c.Const)] = c.Title
	}
	for _, c := range protocol.Codes {
		if _, ok := listed[c]; !ok {
			t.Errorf("the server answers code %s, the document does not list it", c)
		}
	}
	exampled := map[client.Code]bool{}
	for _, ex := range doc.Components.Examples {
		var env struct{ Code client.Code }
		json.Unmarshal(ex.Value, &env)
		exampled[env.Code] = true
	}
	for c, title := range listed {
		if !c.Known() {
			t.Errorf("the document lists code %s, which the server does not know", c)
		}
		if title != c.Message() {
			t.Errorf("code %s: document's title %q, server's msg %q", c, title, c.Message())
		}
		if !exampled[c] {
			t.Errorf("code %s has no example answer", c)
		}
	}
}

// Every example in the document is valid under the schema of its media type.
func TestOpenAPIExamples(t *testing.T) {
	doc := readOpenAPI(t)
	n := 0
	check := func(where string, mt mediaType) {
		if len(mt.Examples) == 0 {
			return
		}
		s := testkit.OpenAPISchema(t, OpenAPI(), strings.TrimPrefix(mt.Schema.Ref, "#"))
		for name, ex := range mt.Examples {
			if ex.Ref != "" {
				ex = doc.Components.Examples[strings.TrimPrefix(ex.Ref, "#/components/examples/")]
			}
			if len(ex.Value) == 0 {
				t.Errorf("%s example %s: no value", where, name)
				continue
			}
			if err := testkit.ValidateJSON(s, ex.Value); err != nil {
				t.Errorf("%s example %s: %v", where, name, err)
			}
			n++
		}
	}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			for ct, mt := range op.RequestBody.Content {
				check(method+" "+path+" request "+ct, mt)
			}
			for status, r := range op.Responses {
				for ct, mt := range r.Content {
					check(method+" "+path+" "+status+" "+ct, mt)
				}
			}
		}
	}
	if n < len(doc.Components.Examples) {
		t.Errorf("%d examples checked, %d defined", n, len(doc.Components.Examples))
	}
}

// The schema is not vacuous: answers breaking the document's rules fail it.
func TestOpenAPIRejectsBrokenAnswers(t *testing.T) {
	envelope := testkit.OpenAPISchema(t, OpenAPI(), "/components/schemas/Envelope")
	const tid = `"trace_id":"TID2af751b4bff24be781d60af10bf84101"`
	for _, raw := range []string{
		`{` + tid + `,"code":"1000","msg":"验签失败","data":{"result":2},"charge":2}`,                                      // data with an error
		`{` + tid + `,"code":"0000","msg":"调用成功","charge":2}`,                                                          // success without data
		`{` + tid + `,"code":"0000","msg":"调用成功","data":{"result":2,"reason":"blur"},"charge":1}`,                      // a quality failure charged
		`{` + tid + `,"code":"0000","msg":"调用成功","data":{"result":1,"id_name":2},"charge":2}`,                          // a lookup not charged
		`{` + tid + `,"code":"1002","msg":"请求参数错误","charge":1}`,                                                        // an error charged
		`{` + tid + `,"code":"0000","msg":"调用成功","data":{"result":1,"id_name":1,"photo":1,"score":87.531},"charge":1}`, // 3 decimals
		`{` + tid + `,"code":"0000","msg":"调用成功","data":{"result":1,"id_name":1,"photo":1,"score":100.5},"charge":1}`,  // over 100
		`{` + tid + `,"code":"0000","msg":"调用成功","data":{"result":1,"id_name":1,"photo":1},"charge":1}`,                // compared, no score
		`{` + tid + `,"code":"0000","msg":"调用成功","data":{"result":1,"id_name":2,"photo":2},"charge":1}`,                // photo after a mismatch
		`{` + tid + `,"code":"0000","msg":"调用成功","data":{"result":1,"photo":2},"charge":1}`,                            // photo without id_name
		`{` + tid + `,"code":"0000","msg":"调用成功","data":{"result":2,"score":50},"charge":2}`,                           // score with a quality failure
		`{` + tid + `,"code":"0000","msg":"调用成功","data":{"result":1,"id_name":2,"reason":"blur"},"charge":1}`,          // reason with result 1
		`{` + tid + `,"code":"1011","msg":"其他错误","charge":2}`,                                                          // no such code
		`{` + tid + `,"code":"1000","msg":"请求过期","charge":2}`,                                                          // another code's msg
		`{` + tid + `,"code":"1002","msg":"请求参数错误missing name","charge":2}`,                                            // detail without ": "
		`{` + tid + `,"code":"1000","msg":"验签失败","charge":2,"extra":1}`,                                                // a field the document has not
		`{"trace_id":"TID2AF751B4BFF24BE781D60AF10BF84101","code":"1000","msg":"验签失败","charge":2}`,                     // upper-case trace_id
		`{` + tid + `,"code":"1000","msg":"验签失败","charge":"2"}`,                                                        // charge a string
		`{` + tid + `,"code":"1000","msg":"验签失败"}`,                                                                     // no charge
	} {
		if testkit.ValidateJSON(envelope, []byte(raw)) == nil {
			t.Errorf("the document allows %s", raw)
		}
	}
}

// The bodies the Go SDK sends are requests the document describes.
func TestOpenAPIRequests(t *testing.T) {
	form := testkit.OpenAPISchema(t, OpenAPI(), "/components/schemas/FormRequest")
	multi := testkit.OpenAPISchema(t, OpenAPI(), "/components/schemas/MultipartRequest")
	asJSON := func(fields map[string]string) []byte {
		b, err := json.Marshal(fields)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	values, err := url.ParseQuery(string(client.FormBody(testParams)))
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]string{}
	for k := range values {
		fields[k] = values.Get(k)
	}
	if err := testkit.ValidateJSON(form, asJSON(fields)); err != nil {
		t.Errorf("form body: %v", err)
	}
	delete(fields, "sign")
	if testkit.ValidateJSON(form, asJSON(fields)) == nil {
		t.Error("the document allows a form body without sign")
	}

	body, contentType := client.MultipartBody(testParams)
	_, mp, err := mime.ParseMediaType(contentType)
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(bytes.NewReader(body), mp["boundary"])
	fields = map[string]string{}
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		var b bytes.Buffer
		b.ReadFrom(p)
		fields[p.FormName()] = b.String()
	}
	if fields["selfie_file"] != string(testSelfie) {
		t.Fatalf("multipart body parsed to %v", fields)
	}
	if err := testkit.ValidateJSON(multi, asJSON(fields)); err != nil {
		t.Errorf("multipart body: %v", err)
	}
	delete(fields, "selfie_file")
	if testkit.ValidateJSON(multi, asJSON(fields)) == nil {
		t.Error("the document allows a multipart body without a selfie")
	}
}

// Every score the handler can print, 0 to 100 in steps of 0.01, is one the
// document allows (multipleOf must not trip on binary fractions).
func TestOpenAPIScores(t *testing.T) {
	data := testkit.OpenAPISchema(t, OpenAPI(), "/components/schemas/DataCompared")
	for k := 0; k <= 10000; k++ {
		d := renderData(verify.Data{Result: 1, IDName: 1, Photo: 1, Score: float64(k) / 100})
		raw, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		if err := testkit.ValidateJSON(data, raw); err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
	}
}

// The document's field rules are the parse layer's: a value the document
// forbids is answered 1002, one it allows reaches the verifier.
func TestOpenAPIFieldRules(t *testing.T) {
	form := testkit.OpenAPISchema(t, OpenAPI(), "/components/schemas/FormRequest")
	f := newFixture(t, verify.Outcome{Data: verify.Data{Result: protocol.ResultBadQuality}})
	tests := []struct {
		field, value string
		valid        bool
	}{
		{"app_key", "pk_e4e659de952f7e78e330f01a", true},
		{"app_key", strings.Repeat("k", 64), true},
		{"app_key", strings.Repeat("k", 65), false},
		{"app_key", "pk e4", false},
		{"request_id", "order-2026_07-01", true},
		{"request_id", "5b0c3f1e-9a7d-4e2b-8c6a-1f0e3d2c1b0a", true},
		{"request_id", "订单1", false},
		{"request_id", "a.b", false},
		{"request_id", strings.Repeat("r", 65), false},
		{"id_number", "11010119900307751X", true},
		{"id_number", "1101011990030775120", false},
		{"name", "买买提·艾力", true},
		{"name", strings.Repeat("名", 64), true},
		{"name", strings.Repeat("名", 86), false}, // over 256 bytes; 65–85 characters are idcard's to refuse, after the signature
		{"timestamp", "1732668400000", true},
		{"timestamp", "0", true},
		{"timestamp", "01732668400000", false},
		{"timestamp", "1732668400000.0", false},
		{"timestamp", "17326684000000000000", false},
		{"sign", "AF68161BF2773B4881FD142ACAA33DF2", true},
		{"sign", "af68161bf2773b4881fd142acaa33df", false},
		{"sign", "zf68161bf2773b4881fd142acaa33df2", false},
	}
	for _, tt := range tests {
		t.Run(tt.field+"="+tt.value, func(t *testing.T) {
			p := testParams
			fields := map[string]string{"app_key": p.AppKey, "request_id": p.RequestID, "id_number": p.IDNumber,
				"name": p.Name, "timestamp": p.Timestamp, "sign": p.Sign, "selfie_base64": "/9j/4A=="}
			fields[tt.field] = tt.value
			raw, _ := json.Marshal(fields)
			if err := testkit.ValidateJSON(form, raw); (err == nil) != tt.valid {
				t.Errorf("the document says valid=%v: %v", err == nil, err)
			}
			v := url.Values{}
			for k, val := range fields {
				v.Set(k, val)
			}
			_, body := f.post(t, "application/x-www-form-urlencoded", []byte(v.Encode()))
			r, err := client.ParseResponse(body)
			if err != nil {
				t.Fatal(err)
			}
			if (r.Code != client.CodeParameter) != tt.valid {
				t.Errorf("the server answers %s", body)
			}
		})
	}
}

// The document is OpenAPI 3.1 by the specification's own JSON Schema (a
// copy in testdata/oas: nothing is fetched at test time), compiled like the
// document's schemas.
func TestOpenAPIIsValidOpenAPI31(t *testing.T) {
	meta, err := os.ReadFile(filepath.Join("testdata", "oas", "schema-2022-10-07.json"))
	if err != nil {
		t.Fatal(err)
	}
	spec := testkit.OpenAPISchema(t, meta, "")
	if err := testkit.ValidateJSON(spec, OpenAPI()); err != nil {
		t.Error(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	ok := doc["paths"].(map[string]any)[OpenAPIPath].(map[string]any)["get"].(map[string]any)["responses"].(map[string]any)["200"].(map[string]any)
	delete(ok, "description")
	broken, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if testkit.ValidateJSON(spec, broken) == nil {
		t.Error("the specification's schema accepts a response without a description")
	}
}
