package io.github.portraitid.portrait;

import java.util.ArrayList;
import java.util.List;

/**
 * The SDK's parts that need no server: signature and decoding. A main
 * rather than JUnit so that the SDK and its tests need nothing beyond the
 * JDK; exits 1 listing the failures. Run by e2e/sdk_test.go.
 */
public final class OfflineTest {
    private static final List<String> failures = new ArrayList<>();

    public static void main(String[] args) {
        // The vectors of the server's sign package, computed with md5sum.
        check("han name", PortraitClient.sign("K1", "110101199003077513", "张三", "R1", "1732668400000", "S"),
                "af68161bf2773b4881fd142acaa33df2");
        check("minority name", PortraitClient.sign("K1", "650102198001010012", "买买提·艾力", "R2", "1732668400000", "S"),
                "cf72a1ca4a7e4ff31436915d3c36ba9d");
        check("empty", PortraitClient.sign("", "", "", "", "", ""), "d41d8cd98f00b204e9800998ecf8427e");
        check("request_id", Boolean.toString(PortraitClient.newRequestId().matches("[0-9a-f]{32}")), "true");
        VerifyRequest req = VerifyRequest.of("110101199003077513", "张三", new byte[] {1});
        check("a request keeps its request_id", req.withBody(VerifyRequest.Body.MULTIPART).requestId(), req.requestId());
        check("requests differ", Boolean.toString(req.requestId().equals(VerifyRequest.of("1", "2", new byte[0]).requestId())), "false");

        VerifyResponse r = VerifyResponse.parse("{\"trace_id\":\"TID1\",\"code\":\"0000\",\"msg\":\"调用成功\","
                + "\"data\":{\"result\":1,\"id_name\":1,\"photo\":1,\"score\":59.99},\"charge\":1}");
        check("score", r.data().score() + " " + r.band() + " " + r.charged() + " " + r.ok(), "59.99 UNCERTAIN true true");
        r = VerifyResponse.parse(" {\"code\":\"0000\",\"data\":{\"result\":2,\"reason\":\"blur\\u0021\"},\"charge\":2}\n");
        check("bad quality", r.data().reason() + " " + r.data().idName() + " " + r.band(), "blur! null NONE");
        r = VerifyResponse.parse("{\"trace_id\":\"TID1\",\"code\":\"1010\",\"msg\":\"请求过期\",\"charge\":2}");
        check("error", r.code() + " " + r.data() + " " + r.charged() + " " + r.code().message(),
                "REQUEST_EXPIRED null false 请求过期");
        check("unknown code", VerifyResponse.parse("{\"code\":\"1234\"}").code().name(), "OTHER");

        String deep = "[".repeat(100000);
        for (String raw : new String[] {"", "<html>", "[]", "{\"msg\":\"x\"}", "{\"code\":\"\"}",
                "{\"code\":\"0000\",\"data\":{}}", "{\"code\":\"0000\"", "{\"code\":\"0000\"}x", "{\"code\":01}",
                "{\"code\":\"a\\x\"}", "{\"code\":\"\\u12\"}", "{\"code\":\"0000\",\"charge\":1e}", deep,
                "{\"code\":\"0000\",\"data\":" + deep + "}"}) {
            try {
                VerifyResponse.parse(raw);
                failures.add("parsed " + abbreviate(raw));
            } catch (IllegalArgumentException expected) {
                // the only failure parse may have
            } catch (RuntimeException | StackOverflowError e) {
                failures.add(abbreviate(raw) + ": " + e);
            }
        }
        if (!failures.isEmpty()) {
            failures.forEach(System.err::println);
            System.exit(1);
        }
    }

    private static void check(String what, String got, String want) {
        if (!got.equals(want)) {
            failures.add(what + ": got " + got + ", want " + want);
        }
    }

    private static String abbreviate(String s) {
        return s.length() > 40 ? s.substring(0, 40) + "..." : s;
    }
}
