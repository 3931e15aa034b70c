"""Signed, expiring object tokens for the local store's presigned URLs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_object_token(secret: str, key: str, method: str, seconds: int,
                      filename: str | None = None) -> str:
    payload = _b64(json.dumps({"k": key, "m": method, "e": int(time.time()) + seconds,
                               "f": filename}).encode())
    signature = _b64(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest())
    return f"{payload}.{signature}"


def read_object_token(secret: str, token: str) -> dict | None:
    """{"k": key, "m": method, "f": filename} of a valid unexpired token, else None."""
    try:
        payload, signature = token.split(".")
        expected = _b64(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(signature, expected):
            return None
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return claims if claims["e"] >= time.time() else None
    except (ValueError, KeyError, TypeError):
        return None
