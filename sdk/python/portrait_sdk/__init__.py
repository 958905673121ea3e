"""The merchants' Python SDK for the portrait-verification API (身份人像比对接口 V1.1).

It signs a call, builds its form or multipart body, sends it with a timeout
and decodes the answer into typed values. Standard library only, Python 3.9+.

    from portrait_sdk import Client
    client = Client("http://127.0.0.1:8080", app_key, app_secret)
    r = client.verify("110101199003077512", "张三", open("selfie.jpg", "rb").read())
    if r.ok and r.same_person:
        ...
"""

from __future__ import annotations

import base64
import enum
import hashlib
import json
import secrets
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Callable, Dict, Optional, Tuple

__all__ = [
    "PATH", "Client", "Code", "Band", "Data", "Response", "PortraitError",
    "sign", "new_request_id", "form_body", "multipart_body", "parse_response",
    "CHARGE_YES", "CHARGE_NO",
    "RESULT_FOUND", "RESULT_BAD_QUALITY", "ID_NAME_MATCH", "ID_NAME_MISMATCH",
    "PHOTO_COMPARED", "PHOTO_MISSING", "PHOTO_FEATURE_FAILED",
]

#: The API's path under the service's base URL.
PATH = "/api/identity/portrait_verification"

# Answers are tiny envelopes; anything longer is not the API.
_MAX_RESPONSE_BYTES = 64 << 10

CHARGE_YES, CHARGE_NO = 1, 2
RESULT_FOUND = 1  # the lookup ran; see id_name (charged)
RESULT_BAD_QUALITY = 2  # the selfie failed the quality gate; see reason (not charged)
ID_NAME_MATCH, ID_NAME_MISMATCH = 1, 2  # mismatch also: the ID number is unknown
PHOTO_COMPARED, PHOTO_MISSING, PHOTO_FEATURE_FAILED = 1, 2, 3


class Code(enum.Enum):
    """The document's business response codes (the envelope's ``code``)."""

    OK = "0000"
    SIGNATURE = "1000"
    ENCODING = "1001"
    PARAMETER = "1002"
    FROZEN = "1003"
    DISABLED = "1004"
    ACCOUNT_EXPIRED = "1005"
    RATE_LIMITED = "1006"
    QUOTA_EXHAUSTED = "1007"
    NOT_GRANTED = "1008"
    APP_KEY = "1009"
    REQUEST_EXPIRED = "1010"
    SUPPLIER = "2000"
    OTHER = "9999"

    @property
    def message(self) -> str:
        """The document's text for the code; the server's msg starts with it."""
        return _MESSAGES[self]

    @property
    def retryable(self) -> bool:
        """Whether the same call may succeed later (rate limit, identity source)."""
        return self in (Code.RATE_LIMITED, Code.SUPPLIER)

    @classmethod
    def of(cls, wire: str) -> "Code":
        """The code for a wire value; OTHER for one this SDK does not know."""
        try:
            return cls(wire)
        except ValueError:
            return cls.OTHER


_MESSAGES = {
    Code.OK: "调用成功",
    Code.SIGNATURE: "验签失败",
    Code.ENCODING: "参数非 UTF-8 编码",
    Code.PARAMETER: "请求参数错误",
    Code.FROZEN: "商户冻结",
    Code.DISABLED: "商户停用",
    Code.ACCOUNT_EXPIRED: "商户账号过期",
    Code.RATE_LIMITED: "调用频率过高",
    Code.QUOTA_EXHAUSTED: "免费次数用尽",
    Code.NOT_GRANTED: "服务无权限",
    Code.APP_KEY: "App_key 验证失败",
    Code.REQUEST_EXPIRED: "请求过期",
    Code.SUPPLIER: "供应商服务异常",
    Code.OTHER: "其他错误",
}


class Band(enum.Enum):
    """The document's reading of the score."""

    NONE = "none"  # no score: an error, a failed selfie, a mismatch or no usable photo
    DIFFERENT = "different"  # [0,40)
    UNCERTAIN = "uncertain"  # [40,60)
    SAME = "same"  # [60,100]


@dataclass(frozen=True)
class Data:
    """The document's data object: id_name only when result is 1, photo only
    when id_name is 1, score only when photo is 1, reason only when result
    is 2; the others are None."""

    result: int
    id_name: Optional[int] = None
    photo: Optional[int] = None
    score: Optional[float] = None
    reason: Optional[str] = None  # no_face, multiple_faces, face_too_small, pose, blur, dark, backlit, occluded...


@dataclass(frozen=True)
class Response:
    """The document's answer envelope {trace_id, code, msg, data?, charge}."""

    trace_id: str
    code_wire: str
    msg: str
    data: Optional[Data]
    charge: int
    raw: bytes = field(repr=False)

    @property
    def code(self) -> Code:
        return Code.of(self.code_wire)

    @property
    def charged(self) -> bool:
        return self.charge == CHARGE_YES

    @property
    def ok(self) -> bool:
        """Whether the call succeeded (code 0000) and so carries data."""
        return self.code is Code.OK and self.data is not None

    @property
    def band(self) -> Band:
        if not self.ok or self.data.score is None:
            return Band.NONE
        s = self.data.score
        return Band.SAME if s >= 60 else Band.UNCERTAIN if s >= 40 else Band.DIFFERENT

    @property
    def same_person(self) -> bool:
        """Whether the service judged the selfie to show the registered person."""
        return self.band is Band.SAME


class PortraitError(Exception):
    """A call that got no answer from the API: a network failure, a timeout
    (``timeout`` is True), or a response that is not the API's envelope.
    Every answer of the service, whatever its code, is a Response instead.

    ``request_id`` is the one the call was sent with. After a timeout the
    service may still have decided and billed the call: verify again with
    ``request_id=e.request_id`` and the same selfie to get that answer back
    without a second charge.
    """

    def __init__(self, message: str, request_id: str, timeout: bool = False):
        super().__init__(message)
        self.request_id = request_id
        self.timeout = timeout


def sign(app_key: str, id_number: str, name: str, request_id: str, timestamp: str, app_secret: str) -> str:
    """md5_hex(app_key + id_number + name + request_id + timestamp + app_secret) over UTF-8."""
    s = app_key + id_number + name + request_id + timestamp + app_secret
    return hashlib.md5(s.encode("utf-8")).hexdigest()


def new_request_id() -> str:
    """32 random lower-case hex digits, the shape of the document's sample request_id."""
    return secrets.token_hex(16)


def form_body(params: Dict[str, str], selfie: bytes) -> bytes:
    """An application/x-www-form-urlencoded body, the selfie in selfie_base64."""
    fields = list(params.items()) + [("selfie_base64", base64.b64encode(selfie).decode("ascii"))]
    return urllib.parse.urlencode(fields, encoding="utf-8").encode("ascii")


def multipart_body(params: Dict[str, str], selfie: bytes, boundary: Optional[str] = None) -> Tuple[bytes, str]:
    """A multipart/form-data body, the selfie's file in selfie_file, and its Content-Type."""
    boundary = boundary or "portrait-" + secrets.token_hex(12)
    parts = []
    for k, v in params.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode("utf-8"))
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="selfie_file"; filename="selfie"\r\n'
                 "Content-Type: application/octet-stream\r\n\r\n".encode("ascii"))
    parts.append(selfie)
    parts.append(f"\r\n--{boundary}--\r\n".encode("ascii"))
    return b"".join(parts), "multipart/form-data; boundary=" + boundary


def parse_response(raw: bytes) -> Response:
    """Decodes an envelope; ValueError when raw is not the API's."""
    m = json.loads(raw.decode("utf-8"))
    if not isinstance(m, dict) or not isinstance(m.get("code"), str) or not m["code"]:
        raise ValueError("not the API's envelope")
    data = None
    d = m.get("data")
    if isinstance(d, dict):
        if not isinstance(d.get("result"), int):
            raise ValueError("data without result")
        score = d.get("score")
        data = Data(result=d["result"], id_name=d.get("id_name"), photo=d.get("photo"),
                    score=None if score is None else float(score), reason=d.get("reason"))
    charge = m.get("charge")
    return Response(trace_id=m.get("trace_id", ""), code_wire=m["code"], msg=m.get("msg", ""), data=data,
                    charge=charge if isinstance(charge, int) else 0, raw=raw)


class Client:
    """Calls the API for one merchant. Safe to share between threads.

    ``timeout`` bounds connecting and each wait for the server, in seconds
    (urllib's socket timeout). ``clock`` returns seconds since the epoch and
    gives the timestamp.
    """

    def __init__(self, base_url: str, app_key: str, app_secret: str, timeout: float = 10.0,
                 clock: Callable[[], float] = time.time):
        self._endpoint = base_url.rstrip("/") + PATH
        self._app_key = app_key
        self._app_secret = app_secret
        self._timeout = timeout
        self._clock = clock

    def sign(self, id_number: str, name: str, request_id: Optional[str] = None) -> Dict[str, str]:
        """The call's text parameters in wire order: request_id if None, timestamp now, sign."""
        request_id = request_id or new_request_id()
        timestamp = str(int(self._clock() * 1000))
        return {
            "app_key": self._app_key,
            "request_id": request_id,
            "id_number": id_number,
            "name": name,
            "timestamp": timestamp,
            "sign": sign(self._app_key, id_number, name, request_id, timestamp, self._app_secret),
        }

    def verify(self, id_number: str, name: str, selfie: bytes, request_id: Optional[str] = None,
               multipart: bool = False) -> Response:
        """Signs and sends one verification; returns every answer of the
        service whatever its code, raises PortraitError only when there is none.

        request_id is random when None. Sending the same request_id, ID
        number, name and selfie again returns the first answer (same
        trace_id), billed once: see PortraitError.
        """
        params = self.sign(id_number, name, request_id)
        if multipart:
            body, content_type = multipart_body(params, selfie)
        else:
            body, content_type = form_body(params, selfie), "application/x-www-form-urlencoded"
        req = urllib.request.Request(self._endpoint, data=body, method="POST",
                                     headers={"Content-Type": content_type, "Accept": "application/json"})
        status = 0
        try:
            with urllib.request.urlopen(req, timeout=self._timeout) as res:
                status = res.status
                raw = res.read(_MAX_RESPONSE_BYTES)
        except urllib.error.HTTPError as e:
            # The service answers outside the API (404, 405) with the envelope too.
            status = e.code
            raw = e.read(_MAX_RESPONSE_BYTES)
        except urllib.error.URLError as e:
            raise PortraitError(f"portrait verify: {e.reason}", params["request_id"],
                                timeout=isinstance(e.reason, socket.timeout)) from e
        except socket.timeout as e:  # TimeoutError since Python 3.10
            raise PortraitError(f"portrait verify: timed out: {e}", params["request_id"], timeout=True) from e
        except OSError as e:
            raise PortraitError(f"portrait verify: {e}", params["request_id"]) from e
        try:
            return parse_response(raw)
        except ValueError as e:
            raise PortraitError(f"portrait verify: HTTP {status}, answer is not the API's envelope ({e}): {raw[:200]!r}",
                                params["request_id"]) from e
