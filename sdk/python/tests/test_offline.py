"""The SDK's parts that need no server: signature, bodies, decoding."""

import http.server
import socket
import threading
import unittest
import urllib.parse

import portrait_sdk as p


class SignTest(unittest.TestCase):
    # The vectors of the server's sign package, computed with md5sum.
    def test_vectors(self):
        for args, want in [
            (("K1", "110101199003077513", "张三", "R1", "1732668400000", "S"), "af68161bf2773b4881fd142acaa33df2"),
            (("K1", "650102198001010012", "买买提·艾力", "R2", "1732668400000", "S"), "cf72a1ca4a7e4ff31436915d3c36ba9d"),
            (("", "", "", "", "", ""), "d41d8cd98f00b204e9800998ecf8427e"),
        ]:
            self.assertEqual(p.sign(*args), want)

    def test_client_signs_its_parameters(self):
        c = p.Client("http://x", "K1", "S", clock=lambda: 1732668400.0)
        params = c.sign("110101199003077513", "张三", "R1")
        self.assertEqual(list(params), ["app_key", "request_id", "id_number", "name", "timestamp", "sign"])
        self.assertEqual(params["timestamp"], "1732668400000")
        self.assertEqual(params["sign"], "af68161bf2773b4881fd142acaa33df2")
        self.assertRegex(c.sign("1", "2")["request_id"], "^[0-9a-f]{32}$")


class BodyTest(unittest.TestCase):
    params = {"app_key": "K1", "name": "买买提·艾力"}
    selfie = b"\xff\xd8\xff+/=\x00"

    def test_form_round_trips(self):
        got = urllib.parse.parse_qs(p.form_body(self.params, self.selfie).decode("ascii"), strict_parsing=True)
        self.assertEqual(got["name"], ["买买提·艾力"])
        self.assertEqual(got["selfie_base64"], ["/9j/Ky89AA=="])

    def test_multipart_carries_the_file(self):
        body, ct = p.multipart_body(self.params, self.selfie, boundary="B")
        self.assertEqual(ct, "multipart/form-data; boundary=B")
        self.assertIn('name="name"\r\n\r\n买买提·艾力\r\n'.encode("utf-8"), body)
        self.assertIn(b'filename="selfie"\r\nContent-Type: application/octet-stream\r\n\r\n' + self.selfie + b"\r\n--B--\r\n", body)


class ParseTest(unittest.TestCase):
    def test_shapes(self):
        r = p.parse_response('{"trace_id":"TID1","code":"0000","msg":"调用成功","data":{"result":1,"id_name":1,"photo":1,"score":50},"charge":1}'.encode())
        self.assertTrue(r.ok and r.charged)
        self.assertEqual(r.data, p.Data(1, 1, 1, 50.0))
        self.assertIs(r.band, p.Band.UNCERTAIN)
        r = p.parse_response(b'{"trace_id":"TID1","code":"0000","msg":"x","data":{"result":2,"reason":"blur"},"charge":2}')
        self.assertEqual((r.data.reason, r.data.id_name, r.band), ("blur", None, p.Band.NONE))
        r = p.parse_response('{"trace_id":"TID1","code":"1010","msg":"请求过期","charge":2}'.encode())
        self.assertEqual((r.code, r.data, r.charged, r.ok), (p.Code.REQUEST_EXPIRED, None, False, False))
        self.assertEqual(p.parse_response(b'{"code":"1234"}').code, p.Code.OTHER)

    def test_not_an_envelope(self):
        for raw in [b"", b"<html>", b"[]", b'{"msg":"x"}', b'{"code":""}', b'{"code":"0000","data":{}}', b"\xff"]:
            with self.assertRaises(ValueError, msg=raw):
                p.parse_response(raw)

    def test_messages(self):
        self.assertEqual(p.Code.APP_KEY.message, "App_key 验证失败")
        self.assertEqual(len({c.message for c in p.Code}), len(p.Code))


class _Answer(http.server.BaseHTTPRequestHandler):
    """Answers every POST with the status and body its server carries."""

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.end_headers()
        self.wfile.write(self.server.body)

    def log_message(self, *args):
        pass


class StatusTest(unittest.TestCase):
    def answer(self, status, body):
        srv = http.server.HTTPServer(("127.0.0.1", 0), _Answer)
        srv.status, srv.body = status, body
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.addCleanup(srv.server_close)
        self.addCleanup(srv.shutdown)
        return p.Client("http://127.0.0.1:%d" % srv.server_address[1], "K1", "S", timeout=5)

    def test_an_envelope_under_an_error_status_is_an_answer(self):
        c = self.answer(404, '{"trace_id":"TID1","code":"9999","msg":"其他错误: no such API","charge":2}'.encode())
        r = c.verify("110101199003077513", "张三", b"x")
        self.assertEqual((r.code, r.charged, r.msg), (p.Code.OTHER, False, "其他错误: no such API"))

    def test_anything_else_is_an_error(self):
        c = self.answer(502, b"<html>bad gateway</html>")
        with self.assertRaises(p.PortraitError) as cm:
            c.verify("110101199003077513", "张三", b"x", request_id="order-2")
        self.assertIn("HTTP 502", str(cm.exception))
        self.assertEqual((cm.exception.request_id, cm.exception.timeout), ("order-2", False))


class TimeoutTest(unittest.TestCase):
    def test_a_silent_server_times_out_naming_the_request_id(self):
        with socket.socket() as ln:  # listens, accepts into its backlog, never answers
            ln.bind(("127.0.0.1", 0))
            ln.listen(1)
            c = p.Client("http://127.0.0.1:%d" % ln.getsockname()[1], "K1", "S", timeout=0.2)
            with self.assertRaises(p.PortraitError) as cm:
                c.verify("110101199003077513", "张三", b"x", request_id="order-1")
            self.assertTrue(cm.exception.timeout)
            self.assertEqual(cm.exception.request_id, "order-1")
            with self.assertRaises(p.PortraitError) as cm:
                c.verify("110101199003077513", "张三", b"x")
            self.assertRegex(cm.exception.request_id, "^[0-9a-f]{32}$")

    def test_no_server(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]  # bound, not listening: refused
            with self.assertRaises(p.PortraitError) as cm:
                p.Client("http://127.0.0.1:%d" % port, "K1", "S", timeout=1).verify("1", "2", b"x")
            self.assertFalse(cm.exception.timeout)


if __name__ == "__main__":
    unittest.main()
