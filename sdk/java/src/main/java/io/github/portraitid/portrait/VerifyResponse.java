package io.github.portraitid.portrait;

import java.util.Map;

/** The document's answer envelope {trace_id, code, msg, data?, charge}. */
public final class VerifyResponse {
    /** The document's charge values. */
    public static final int CHARGE_YES = 1, CHARGE_NO = 2;

    private final String traceId;
    private final String codeWire;
    private final String msg;
    private final Data data;
    private final int charge;
    private final String raw;

    private VerifyResponse(String traceId, String codeWire, String msg, Data data, int charge, String raw) {
        this.traceId = traceId;
        this.codeWire = codeWire;
        this.msg = msg;
        this.data = data;
        this.charge = charge;
        this.raw = raw;
    }

    /**
     * Decodes an envelope.
     *
     * @throws IllegalArgumentException when raw is not the API's envelope
     */
    public static VerifyResponse parse(String raw) {
        Object v = Json.parse(raw);
        if (!(v instanceof Map)) {
            throw new IllegalArgumentException("not a JSON object");
        }
        Map<?, ?> m = (Map<?, ?>) v;
        String code = string(m, "code");
        if (code == null || code.isEmpty()) {
            throw new IllegalArgumentException("no code");
        }
        Object d = m.get("data");
        Data data = null;
        if (d instanceof Map) {
            Map<?, ?> dm = (Map<?, ?>) d;
            Number result = number(dm, "result");
            if (result == null) {
                throw new IllegalArgumentException("data without result");
            }
            data = new Data(result.intValue(), integer(dm, "id_name"), integer(dm, "photo"),
                    number(dm, "score") == null ? null : number(dm, "score").doubleValue(), string(dm, "reason"));
        }
        Number charge = number(m, "charge");
        return new VerifyResponse(string(m, "trace_id"), code, string(m, "msg"), data,
                charge == null ? 0 : charge.intValue(), raw);
    }

    private static String string(Map<?, ?> m, String key) {
        Object v = m.get(key);
        return v instanceof String ? (String) v : null;
    }

    private static Number number(Map<?, ?> m, String key) {
        Object v = m.get(key);
        return v instanceof Number ? (Number) v : null;
    }

    private static Integer integer(Map<?, ?> m, String key) {
        Number n = number(m, key);
        return n == null ? null : n.intValue();
    }

    /** Unique per call ("TID" and 32 hex digits); an idempotent retry returns its first call's. */
    public String traceId() {
        return traceId;
    }

    /** The code; {@link Code#OTHER} for one this SDK does not know (see {@link #codeWire()}). */
    public Code code() {
        return Code.of(codeWire);
    }

    /** The code exactly as received. */
    public String codeWire() {
        return codeWire;
    }

    /** The document's text for the code, then possibly ": " and a detail for the developer. */
    public String msg() {
        return msg;
    }

    /** The verdict; null unless the code is {@link Code#OK}. */
    public Data data() {
        return data;
    }

    /** The document's charge: {@link #CHARGE_YES} or {@link #CHARGE_NO}. */
    public int charge() {
        return charge;
    }

    /** Whether the call is billed. */
    public boolean charged() {
        return charge == CHARGE_YES;
    }

    /** Whether the call succeeded (code 0000) and so carries data. */
    public boolean ok() {
        return code() == Code.OK && data != null;
    }

    /** The answer as received. */
    public String raw() {
        return raw;
    }

    /** The document's reading of the score. */
    public enum Band {
        /** No score: an error, a failed selfie, a name mismatch or no usable photo. */
        NONE,
        /** [0,40): different people. */
        DIFFERENT,
        /** [40,60): cannot tell. */
        UNCERTAIN,
        /** [60,100]: the same person. */
        SAME
    }

    /** The band of the score. */
    public Band band() {
        if (!ok() || data.score() == null) {
            return Band.NONE;
        }
        double s = data.score();
        return s >= 60 ? Band.SAME : s >= 40 ? Band.UNCERTAIN : Band.DIFFERENT;
    }

    /** Whether the service judged the selfie to show the registered person (score 60 or more). */
    public boolean samePerson() {
        return band() == Band.SAME;
    }

    @Override
    public String toString() {
        return raw;
    }

    /**
     * The document's data object. idName is set only when result is 1, photo
     * only when idName is 1, score only when photo is 1, reason only when
     * result is 2; the others are null.
     */
    public static final class Data {
        /** result: the lookup ran (see idName); charged. */
        public static final int RESULT_FOUND = 1;
        /** result: the selfie failed the quality gate (see reason); not charged. */
        public static final int RESULT_BAD_QUALITY = 2;
        /** id_name: name and ID number match. */
        public static final int ID_NAME_MATCH = 1;
        /** id_name: they do not, or the ID number is unknown. */
        public static final int ID_NAME_MISMATCH = 2;
        /** photo: compared, see score. */
        public static final int PHOTO_COMPARED = 1;
        /** photo: no reference photo on record. */
        public static final int PHOTO_MISSING = 2;
        /** photo: no usable face in the reference photo. */
        public static final int PHOTO_FEATURE_FAILED = 3;

        private final int result;
        private final Integer idName;
        private final Integer photo;
        private final Double score;
        private final String reason;

        Data(int result, Integer idName, Integer photo, Double score, String reason) {
            this.result = result;
            this.idName = idName;
            this.photo = photo;
            this.score = score;
            this.reason = reason;
        }

        public int result() {
            return result;
        }

        public Integer idName() {
            return idName;
        }

        public Integer photo() {
            return photo;
        }

        /** In [0,100] with at most 2 decimals. */
        public Double score() {
            return score;
        }

        /** Why the selfie failed (no_face, multiple_faces, face_too_small, pose, blur, dark, backlit, occluded...). */
        public String reason() {
            return reason;
        }
    }
}
