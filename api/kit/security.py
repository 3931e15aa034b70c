"""Passwords, access tokens, refresh tokens and API keys.

- Passwords: argon2id (argon2-cffi), never stored in the clear.
- Access tokens: short-lived, ``base64url(payload).base64url(HMAC-SHA256)`` signed with the
  service's secret key; they carry the user id, the login (session) they belong to, an
  expiry and their type, nothing else. Logging out ends the login and with it its tokens.
- Refresh tokens, invitation tokens, API key secrets: 256-bit random strings; only their
  SHA-256 is stored (they are high-entropy, so a fast hash is safe and lookups stay indexed).
- API keys read ``hk_<prefix>_<secret>``: the prefix is shown in listings, the secret once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
API_KEY_PREFIX = "hk_"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def random_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    session_id: uuid.UUID | None  # the login it belongs to (None: issued before sessions)


def issue_access_token(user_id: uuid.UUID, secret: str, ttl_seconds: int,
                       session_id: uuid.UUID) -> str:
    payload = _b64(json.dumps({"sub": str(user_id), "sid": str(session_id),
                               "exp": int(time.time()) + ttl_seconds,
                               "typ": "access"}).encode())
    signature = _b64(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest())
    return f"{payload}.{signature}"


def read_access_token(token: str, secret: str) -> AccessClaims | None:
    """The claims of a validly signed, unexpired token; None for anything else."""
    try:
        payload, signature = token.split(".")
        expected = _b64(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(signature, expected):
            return None
        claims = json.loads(_unb64(payload))
        if claims.get("typ") != "access" or claims["exp"] < time.time():
            return None
        session = claims.get("sid")
        return AccessClaims(uuid.UUID(claims["sub"]), uuid.UUID(session) if session else None)
    except (ValueError, KeyError, TypeError, AttributeError, json.JSONDecodeError):
        return None


@dataclass(frozen=True)
class NewApiKey:
    prefix: str
    secret_hash: str
    plaintext: str


def new_api_key() -> NewApiKey:
    prefix = secrets.token_hex(4)
    secret = random_token(24)
    return NewApiKey(prefix, sha256_hex(secret), f"{API_KEY_PREFIX}{prefix}_{secret}")


def split_api_key(token: str) -> tuple[str, str] | None:
    """(prefix, secret) of a well-formed ``hk_<prefix>_<secret>``, else None."""
    if not token.startswith(API_KEY_PREFIX):
        return None
    prefix, _, secret = token[len(API_KEY_PREFIX):].partition("_")
    if len(prefix) != 8 or not secret:
        return None
    return prefix, secret
