package io.github.portraitid.portrait;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * The merchants' Java SDK for the portrait-verification API (身份人像比对接口
 * V1.1): it signs a call, builds its form or multipart body, sends it with
 * timeouts and decodes the answer into a {@link VerifyResponse}. JDK 11+, no
 * other dependency. Safe for concurrent use; build one per merchant account
 * and keep it.
 *
 * <pre>{@code
 * PortraitClient client = PortraitClient.builder("https://api.example.com", appKey, appSecret).build();
 * VerifyResponse r = client.verify(VerifyRequest.of("110101199003077512", "张三", selfieBytes));
 * if (r.ok() && r.samePerson()) { ... }
 * }</pre>
 */
public final class PortraitClient {
    /** The API's path under the service's base URL. */
    public static final String PATH = "/api/identity/portrait_verification";

    /** Answers are tiny envelopes; anything longer is not the API. */
    private static final int MAX_RESPONSE_BYTES = 64 << 10;

    private static final SecureRandom RANDOM = new SecureRandom();

    private final URI endpoint;
    private final String appKey;
    private final String appSecret;
    private final Duration timeout;
    private final Clock clock;
    private final HttpClient http;

    private PortraitClient(Builder b) {
        this.endpoint = URI.create(b.baseUrl.replaceAll("/+$", "") + PATH);
        this.appKey = b.appKey;
        this.appSecret = b.appSecret;
        this.timeout = b.timeout;
        this.clock = b.clock;
        this.http = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(b.connectTimeout)
                .build();
    }

    /**
     * A builder for the service at baseUrl (e.g. "http://127.0.0.1:8080")
     * signing with the merchant's app_key and app_secret.
     */
    public static Builder builder(String baseUrl, String appKey, String appSecret) {
        return new Builder(baseUrl, appKey, appSecret);
    }

    /** Options of a {@link PortraitClient}. */
    public static final class Builder {
        private final String baseUrl;
        private final String appKey;
        private final String appSecret;
        private Duration connectTimeout = Duration.ofSeconds(3);
        private Duration timeout = Duration.ofSeconds(10);
        private Clock clock = Clock.systemUTC();

        private Builder(String baseUrl, String appKey, String appSecret) {
            this.baseUrl = Objects.requireNonNull(baseUrl, "baseUrl");
            this.appKey = Objects.requireNonNull(appKey, "appKey");
            this.appSecret = Objects.requireNonNull(appSecret, "appSecret");
        }

        /** Bound on opening the connection; default 3 s. */
        public Builder connectTimeout(Duration d) {
            this.connectTimeout = Objects.requireNonNull(d, "connectTimeout");
            return this;
        }

        /** Bound on sending the call and receiving the answer; default 10 s. */
        public Builder timeout(Duration d) {
            this.timeout = Objects.requireNonNull(d, "timeout");
            return this;
        }

        /** Where timestamps come from; default the system clock. */
        public Builder clock(Clock c) {
            this.clock = Objects.requireNonNull(c, "clock");
            return this;
        }

        public PortraitClient build() {
            return new PortraitClient(this);
        }
    }

    /**
     * Signs and sends the request. Every answer of the service, whatever its
     * code, is returned; only a call that got no answer throws.
     *
     * @throws PortraitException on a network failure, a timeout
     *     ({@link PortraitException#isTimeout()}) or an answer that is not
     *     the API's envelope
     */
    public VerifyResponse verify(VerifyRequest req) throws PortraitException {
        Map<String, String> p = sign(req);
        byte[] body;
        String contentType;
        if (req.body == VerifyRequest.Body.MULTIPART) {
            String boundary = "portrait-" + hex(randomBytes(12));
            body = multipartBody(p, req.selfie, boundary);
            contentType = "multipart/form-data; boundary=" + boundary;
        } else {
            body = formBody(p, req.selfie);
            contentType = "application/x-www-form-urlencoded";
        }
        HttpRequest hr = HttpRequest.newBuilder(endpoint)
                .timeout(timeout)
                .header("Content-Type", contentType)
                .header("Accept", "application/json")
                .POST(HttpRequest.BodyPublishers.ofByteArray(body))
                .build();
        HttpResponse<InputStream> res;
        try {
            res = http.send(hr, HttpResponse.BodyHandlers.ofInputStream());
        } catch (HttpTimeoutException e) {
            throw new PortraitException("portrait verify: timed out: " + e.getMessage(), e, true);
        } catch (IOException e) {
            throw new PortraitException("portrait verify: " + e, e, false);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new PortraitException("portrait verify: interrupted", e, false);
        }
        String raw;
        try (InputStream in = res.body()) {
            raw = new String(in.readNBytes(MAX_RESPONSE_BYTES), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new PortraitException("portrait verify: read answer (HTTP " + res.statusCode() + "): " + e, e, false);
        }
        try {
            return VerifyResponse.parse(raw);
        } catch (IllegalArgumentException e) {
            String head = raw.length() > 200 ? raw.substring(0, 200) : raw;
            throw new PortraitException("portrait verify: HTTP " + res.statusCode()
                    + ", answer is not the API's envelope (" + e.getMessage() + "): " + head, e, false);
        }
    }

    /** The call's text parameters in wire order, with the timestamp now and the sign. */
    private Map<String, String> sign(VerifyRequest req) {
        String timestamp = Long.toString(clock.millis());
        Map<String, String> p = new LinkedHashMap<>();
        p.put("app_key", appKey);
        p.put("request_id", req.requestId);
        p.put("id_number", req.idNumber);
        p.put("name", req.name);
        p.put("timestamp", timestamp);
        p.put("sign", sign(appKey, req.idNumber, req.name, req.requestId, timestamp, appSecret));
        return p;
    }

    /**
     * The document's signature: md5_hex(app_key + id_number + name +
     * request_id + timestamp + app_secret) over the UTF-8 bytes, lower-case.
     */
    public static String sign(String appKey, String idNumber, String name, String requestId, String timestamp,
            String appSecret) {
        MessageDigest md5;
        try {
            md5 = MessageDigest.getInstance("MD5");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JDK has MD5", e);
        }
        String s = appKey + idNumber + name + requestId + timestamp + appSecret;
        return hex(md5.digest(s.getBytes(StandardCharsets.UTF_8)));
    }

    /** 32 random lower-case hex digits, the shape of the document's sample request_id. */
    public static String newRequestId() {
        return hex(randomBytes(16));
    }

    private static byte[] formBody(Map<String, String> p, byte[] selfie) {
        StringBuilder b = new StringBuilder();
        for (Map.Entry<String, String> e : p.entrySet()) {
            b.append(e.getKey()).append('=').append(URLEncoder.encode(e.getValue(), StandardCharsets.UTF_8)).append('&');
        }
        b.append("selfie_base64=").append(URLEncoder.encode(Base64.getEncoder().encodeToString(selfie), StandardCharsets.UTF_8));
        return b.toString().getBytes(StandardCharsets.US_ASCII);
    }

    private static byte[] multipartBody(Map<String, String> p, byte[] selfie, String boundary) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(selfie.length + 1024);
        for (Map.Entry<String, String> e : p.entrySet()) {
            write(out, "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + e.getKey() + "\"\r\n\r\n"
                    + e.getValue() + "\r\n");
        }
        write(out, "--" + boundary + "\r\nContent-Disposition: form-data; name=\"selfie_file\"; filename=\"selfie\"\r\n"
                + "Content-Type: application/octet-stream\r\n\r\n");
        out.write(selfie, 0, selfie.length);
        write(out, "\r\n--" + boundary + "--\r\n");
        return out.toByteArray();
    }

    private static void write(ByteArrayOutputStream out, String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        out.write(b, 0, b.length);
    }

    private static byte[] randomBytes(int n) {
        byte[] b = new byte[n];
        RANDOM.nextBytes(b);
        return b;
    }

    private static String hex(byte[] b) {
        StringBuilder s = new StringBuilder(b.length * 2);
        for (byte x : b) {
            s.append(Character.forDigit((x >> 4) & 0xf, 16)).append(Character.forDigit(x & 0xf, 16));
        }
        return s.toString();
    }
}
