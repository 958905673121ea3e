package io.github.portraitid.portrait;

import java.util.Objects;

/** One verification to ask for: an ID number, the holder's name and a selfie. */
public final class VerifyRequest {
    /** How the selfie travels. */
    public enum Body {
        /** application/x-www-form-urlencoded, the selfie in selfie_base64. */
        FORM,
        /** multipart/form-data, the selfie's file in selfie_file. */
        MULTIPART
    }

    final String idNumber;
    final String name;
    final byte[] selfie;
    final String requestId;
    final Body body;

    private VerifyRequest(String idNumber, String name, byte[] selfie, String requestId, Body body) {
        this.idNumber = idNumber;
        this.name = name;
        this.selfie = selfie;
        this.requestId = requestId;
        this.body = body;
    }

    /**
     * A form call with a random request_id.
     *
     * @param idNumber the 18-character resident ID number
     * @param name the holder's name, e.g. 张三
     * @param selfie the image file's bytes: JPG, PNG, BMP, GIF or TIFF, at most 2 MiB
     */
    public static VerifyRequest of(String idNumber, String name, byte[] selfie) {
        return new VerifyRequest(Objects.requireNonNull(idNumber, "idNumber"), Objects.requireNonNull(name, "name"),
                Objects.requireNonNull(selfie, "selfie").clone(), null, Body.FORM);
    }

    /**
     * This request with the merchant's own serial number. Sending the same
     * request_id, ID number, name and selfie again returns the first answer
     * (same trace_id), billed once: use it to retry after a timeout.
     */
    public VerifyRequest withRequestId(String requestId) {
        return new VerifyRequest(idNumber, name, selfie, Objects.requireNonNull(requestId, "requestId"), body);
    }

    /** This request sent with the given body type. */
    public VerifyRequest withBody(Body body) {
        return new VerifyRequest(idNumber, name, selfie, requestId, Objects.requireNonNull(body, "body"));
    }
}
