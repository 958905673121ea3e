package io.github.portraitid.portrait;

import java.io.IOException;

/**
 * A call that got no answer from the API: a network failure, a timeout, or a
 * response that is not the API's envelope. Every answer of the service,
 * whatever its code, is a {@link VerifyResponse} instead.
 */
public class PortraitException extends IOException {
    private static final long serialVersionUID = 1L;

    private final boolean timeout;

    PortraitException(String message, Throwable cause, boolean timeout) {
        super(message, cause);
        this.timeout = timeout;
    }

    /**
     * Whether the call timed out (connecting, or waiting for the answer). The
     * service may still have decided and billed it: send the same
     * {@link VerifyRequest} again (same request_id and selfie) to get that
     * answer back without a second charge.
     */
    public boolean isTimeout() {
        return timeout;
    }
}
