"""Standard Webhooks signatures (https://www.standardwebhooks.com): ``webhook-signature:
v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``, the secret given as
``whsec_<base64>`` (or raw text, used as bytes)."""

from __future__ import annotations

import base64
import hashlib
import hmac

TOLERANCE_S = 5 * 60


def secret_bytes(secret: str) -> bytes:
    if secret.startswith("whsec_"):
        return base64.b64decode(secret.removeprefix("whsec_"))
    return secret.encode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret_bytes(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
        "content-type": "application/json",
    }


def verify(secret: str, hdrs: dict[str, str], body: bytes, now: float) -> str | None:
    """None when valid, else what is wrong (receiver side; the sandbox uses it)."""
    msg_id, ts, sigs = hdrs.get("webhook-id"), hdrs.get("webhook-timestamp"), hdrs.get("webhook-signature")
    if not (msg_id and ts and sigs):
        return "missing webhook-id, webhook-timestamp or webhook-signature"
    try:
        t = int(ts)
    except ValueError:
        return "webhook-timestamp is not an integer"
    if abs(now - t) > TOLERANCE_S:
        return "webhook-timestamp outside the tolerance"
    want = sign(secret, msg_id, t, body).split(",", 1)[1]
    for part in sigs.split():
        version, _, value = part.partition(",")
        if version == "v1" and hmac.compare_digest(value, want):
            return None
    return "no valid v1 signature"
