package upstream

import (
	"errors"
	"testing"

	"github.com/portrait-id/portrait/protocol"

	"github.com/portrait-id/portrait/client"
	"github.com/portrait-id/portrait/identity"
)

// FuzzInterpret feeds the upstream's answer, outside input we must not
// believe blindly, through the envelope decoder and our mapping: every body
// either fails as identity.ErrUnavailable or yields data of the document's
// shape.
func FuzzInterpret(f *testing.F) {
	for _, s := range []string{
		`{"trace_id":"TID0","code":"0000","msg":"调用成功","data":{"result":1,"id_name":1,"photo":1,"score":88.5},"charge":1}`,
		`{"trace_id":"TID0","code":"0000","msg":"调用成功","data":{"result":1,"id_name":2},"charge":1}`,
		`{"trace_id":"TID0","code":"0000","msg":"调用成功","data":{"result":2,"reason":"blur"},"charge":2}`,
		`{"trace_id":"TID0","code":"1000","msg":"验签失败","charge":2}`,
		`{"trace_id":"TID0","code":"0000","data":{"result":1,"id_name":1,"photo":1,"score":-1}}`,
		`<html>502</html>`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		res, err := client.ParseResponse(body)
		if err != nil {
			return // Client.Verify wraps it in a Failure, tested elsewhere
		}
		ans, err := interpret(res)
		if err != nil {
			if !errors.Is(err, identity.ErrUnavailable) {
				t.Fatalf("error %v does not wrap identity.ErrUnavailable", err)
			}
			return
		}
		d := ans.Data
		ok := d.Result == protocol.ResultBadQuality && d.IDName == 0 && d.Photo == 0 && d.Score == 0 ||
			d.Result == protocol.ResultFound && d.Reason == "" && (d.IDName == protocol.IDNameMismatch && d.Photo == 0 && d.Score == 0 ||
				d.IDName == protocol.IDNameMatch && (d.Photo == protocol.PhotoMissing || d.Photo == protocol.PhotoFeatureFailed) && d.Score == 0 ||
				d.IDName == protocol.IDNameMatch && d.Photo == protocol.PhotoCompared && d.Score >= 0 && d.Score <= 100)
		if !ok || res.Code != client.CodeOK {
			t.Fatalf("%s gave %+v", body, d)
		}
	})
}
