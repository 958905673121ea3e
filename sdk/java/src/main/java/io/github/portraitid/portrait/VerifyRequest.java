package io.github.portraitid.portrait;

import java.util.Objects;

/**
 * One verification to ask for: an ID number, the holder's name and a selfie,
 * with its request_id. Sending the same request again (after a timeout, say)
 * sends the same request_id: a call the service already decided answers
 * with its first answer, billed once.
 */
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
     * A form call with a fresh random request_id.
     *
     * @param idNumber the 18-character resident ID number
     * @param name the holder's name, e.g. 张三
     * @param selfie the image file's bytes: JPG, PNG, BMP, GIF or TIFF, at most 2 MiB
     */
    public static VerifyRequest of(String idNumber, String name, byte[] selfie) {
        return new VerifyRequest(Objects.requireNonNull(idNumber, "idNumber"), Objects.requireNonNull(name, "name"),
                Objects.requireNonNull(selfie, "selfie").clone(), PortraitClient.newRequestId(), Body.FORM);
    }

    /** This request with the merchant's own serial number instead of a random one. */
    public VerifyRequest withRequestId(String requestId) {
        return new VerifyRequest(idNumber, name, selfie, Objects.requireNonNull(requestId, "requestId"), body);
    }

    /** The request_id this request is sent with. */
    public String requestId() {
        return requestId;
    }

    /** This request sent with the given body type. */
    public VerifyRequest withBody(Body body) {
        return new VerifyRequest(idNumber, name, selfie, requestId, Objects.requireNonNull(body, "body"));
    }
}
