package io.github.portraitid.portrait;

/**
 * The document's business response codes (the envelope's {@code code}). Only
 * {@link #OK} carries {@link VerifyResponse#data()}; only {@link #OK} with
 * result 1 is charged.
 */
public enum Code {
    OK("0000", "调用成功"),
    SIGNATURE("1000", "验签失败"),
    ENCODING("1001", "参数非 UTF-8 编码"),
    PARAMETER("1002", "请求参数错误"),
    FROZEN("1003", "商户冻结"),
    DISABLED("1004", "商户停用"),
    ACCOUNT_EXPIRED("1005", "商户账号过期"),
    RATE_LIMITED("1006", "调用频率过高"),
    QUOTA_EXHAUSTED("1007", "免费次数用尽"),
    NOT_GRANTED("1008", "服务无权限"),
    APP_KEY("1009", "App_key 验证失败"),
    REQUEST_EXPIRED("1010", "请求过期"),
    SUPPLIER("2000", "供应商服务异常"),
    OTHER("9999", "其他错误");

    private final String wire;
    private final String message;

    Code(String wire, String message) {
        this.wire = wire;
        this.message = message;
    }

    /** The code as it is on the wire, e.g. "1000". */
    public String wire() {
        return wire;
    }

    /** The document's text for the code; the server's msg starts with it. */
    public String message() {
        return message;
    }

    /**
     * Whether retrying the same call later may succeed: over the rate limit,
     * or the identity source failed.
     */
    public boolean retryable() {
        return this == RATE_LIMITED || this == SUPPLIER;
    }

    /** The code for a wire value; {@link #OTHER} for one the SDK does not know. */
    public static Code of(String wire) {
        for (Code c : values()) {
            if (c.wire.equals(wire)) {
                return c;
            }
        }
        return OTHER;
    }
}
