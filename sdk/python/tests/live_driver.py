"""Runs calls through the SDK against a live service for the Go test that
started it (e2e/sdk_test.go), which checks the answers; the line formats are
LiveDriver.java's, so that both SDKs answer the same table of calls.

One call per input line, tab-separated: name, base URL, app_key, app_secret,
id_number, holder's name, selfie file, body (form|multipart), request_id
(empty: random), clock offset in ms, timeout in ms (empty: the default). One
line out per call: name, "answer", the typed fields as the SDK decoded them
(code, Code, charge, result, id_name, photo, score, reason, band, trace_id;
"-" when absent) and the raw answer; or name, "error", whether it timed out,
and the message. The line "codes" asks for the SDK's code table instead:
one line per code, "code", its wire value, name and text.
"""

import sys
import time

import portrait_sdk


def main() -> None:
    out = open(sys.stdout.fileno(), "w", encoding="utf-8", closefd=False)
    for line in sys.stdin.buffer.read().decode("utf-8").splitlines():
        if not line:
            continue
        if line == "codes":
            for c in portrait_sdk.Code:
                print("code", c.value, c.name, c.message, sep="\t", file=out)
            continue
        f = line.split("\t")
        offset = int(f[9]) / 1000
        kwargs = {"clock": lambda: time.time() + offset}
        if f[10]:
            kwargs["timeout"] = int(f[10]) / 1000
        client = portrait_sdk.Client(f[1], f[2], f[3], **kwargs)
        with open(f[6], "rb") as fh:
            selfie = fh.read()
        try:
            r = client.verify(f[4], f[5], selfie, request_id=f[8] or None, multipart=f[7] == "multipart")
        except portrait_sdk.PortraitError as e:
            print(f[0], "error", str(e.timeout).lower(), " ".join(str(e).split()), sep="\t", file=out)
            continue
        d = r.data
        fields = ["-"] * 5
        if d is not None:
            fields = [str(d.result)] + ["-" if v is None else str(v) for v in (d.id_name, d.photo, d.score, d.reason)]
        print(f[0], "answer", r.code_wire, r.code.name, str(r.charge), *fields, r.band.name, r.trace_id,
              r.raw.decode("utf-8"), sep="\t", file=out)
    out.flush()


if __name__ == "__main__":
    main()
