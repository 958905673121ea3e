package io.github.portraitid.portrait;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.time.Clock;
import java.time.Duration;

/**
 * Runs calls through the SDK against a live service for the Go test that
 * started it (e2e/sdk_test.go), which checks the answers. One call per input
 * line, tab-separated: name, base URL, app_key, app_secret, id_number,
 * holder's name, selfie file, body (form|multipart), request_id (empty:
 * random), clock offset in ms, timeout in ms (empty: the default). One line
 * out per call: name, "answer", the typed fields as the SDK decoded them
 * (code, Code, charge, result, id_name, photo, score, reason, band,
 * trace_id; "-" when absent) and the raw answer; or name, "error", whether
 * it timed out, and the message. The line "codes" asks for the SDK's code
 * table instead: one line per code, "code", its wire value, name and text.
 */
public final class LiveDriver {
    public static void main(String[] args) throws Exception {
        PrintStream out = new PrintStream(System.out, true, "UTF-8");
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String line; (line = in.readLine()) != null; ) {
            if (line.isEmpty()) {
                continue;
            }
            if (line.equals("codes")) {
                for (Code c : Code.values()) {
                    out.println(String.join("\t", "code", c.wire(), c.name(), c.message()));
                }
                continue;
            }
            String[] f = line.split("\t", -1);
            PortraitClient.Builder b = PortraitClient.builder(f[1], f[2], f[3])
                    .clock(Clock.offset(Clock.systemUTC(), Duration.ofMillis(Long.parseLong(f[9]))));
            if (!f[10].isEmpty()) {
                b.timeout(Duration.ofMillis(Long.parseLong(f[10])));
            }
            VerifyRequest req = VerifyRequest.of(f[4], f[5], Files.readAllBytes(Paths.get(f[6])))
                    .withBody("multipart".equals(f[7]) ? VerifyRequest.Body.MULTIPART : VerifyRequest.Body.FORM);
            if (!f[8].isEmpty()) {
                req = req.withRequestId(f[8]);
            }
            try {
                VerifyResponse r = b.build().verify(req);
                VerifyResponse.Data d = r.data();
                out.println(String.join("\t", f[0], "answer", r.codeWire(), r.code().name(), Integer.toString(r.charge()),
                        d == null ? "-" : Integer.toString(d.result()),
                        d == null ? "-" : str(d.idName()),
                        d == null ? "-" : str(d.photo()),
                        d == null ? "-" : str(d.score()),
                        d == null ? "-" : str(d.reason()),
                        r.band().name(), r.traceId(), r.raw()));
            } catch (PortraitException e) {
                out.println(String.join("\t", f[0], "error", Boolean.toString(e.isTimeout()),
                        e.getMessage().replaceAll("\\s+", " ")));
            }
        }
    }

    private static String str(Object v) {
        return v == null ? "-" : v.toString();
    }
}
