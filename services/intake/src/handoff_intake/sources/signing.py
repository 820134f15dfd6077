"""Signature, shared-token and timestamp checks shared by the source adapters.

Every comparison is constant-time and tries each configured secret, because two secrets are
active while a source rotates them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Literal

from handoff_intake.sources.base import InboundRequest, SignatureError, SourceConfig

Encoding = Literal["hex", "base64"]


def configured_secrets(config: SourceConfig) -> tuple[str, ...]:
    """The source's secrets; a source without one cannot authenticate anything."""
    secrets = tuple(secret for secret in config.secrets if secret)
    if not secrets:
        raise SignatureError("the source has no secret configured")
    return secrets


def hmac_sha256(secret: str, message: bytes, encoding: Encoding) -> str:
    """HMAC-SHA256 of `message` under `secret`, as lowercase hex or standard base64."""
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return digest.hex() if encoding == "hex" else base64.b64encode(digest).decode("ascii")


def verify_hmac(
    config: SourceConfig,
    message: bytes,
    presented: str | None,
    encoding: Encoding,
    what: str = "signature",
) -> None:
    """Accept `presented` if it is the HMAC-SHA256 of `message` under any configured secret."""
    if not presented:
        raise SignatureError(f"missing {what}")
    candidate = presented.strip()
    if encoding == "hex":
        candidate = candidate.lower()
    if not _matches_any(
        candidate, (hmac_sha256(secret, message, encoding) for secret in configured_secrets(config))
    ):
        raise SignatureError(f"{what} does not match")


def verify_sha256_header(
    config: SourceConfig, request: InboundRequest, header: str, encoding: Encoding
) -> None:
    """Verify a `sha256=<digest>` header (Typeform, Meta) over the raw body."""
    signature = request.header(header)
    if signature is not None and not signature.startswith("sha256="):
        raise SignatureError(f"{header} must start with sha256=")
    verify_hmac(
        config,
        request.body,
        signature.removeprefix("sha256=") if signature else None,
        encoding,
        header,
    )


def verify_token(config: SourceConfig, presented: str | None, what: str = "token") -> None:
    """Accept `presented` if it equals any configured secret."""
    if not presented:
        raise SignatureError(f"missing {what}")
    if not _matches_any(presented, configured_secrets(config)):
        raise SignatureError(f"{what} does not match")


def _matches_any(presented: str, expected: Iterable[str]) -> bool:
    presented_bytes = presented.encode()
    # Compare against every candidate so timing does not reveal which secret was close.
    results = [hmac.compare_digest(presented_bytes, value.encode()) for value in expected]
    return any(results)


def shared_token(request: InboundRequest, query_param: str = "token") -> str | None:
    """A shared token from `Authorization: Bearer`, `X-Handoff-Token` or the query string."""
    authorization = request.header("authorization")
    if authorization and authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    return request.header("x-handoff-token") or request.query.get(query_param)


def query_token(request: InboundRequest, config: SourceConfig) -> str | None:
    """The token a tool without signatures carries in the webhook URL configured for it."""
    return request.query.get(str(config.options.get("token_param", "token")))


def parse_epoch(value: str | None, unit: Literal["s", "ms"], what: str) -> datetime:
    """An epoch timestamp header, refused as a signature failure when absent or garbled."""
    if not value:
        raise SignatureError(f"missing {what}")
    try:
        number = int(value.strip())
    except ValueError:
        raise SignatureError(f"{what} is not an integer") from None
    seconds = number / 1000 if unit == "ms" else number
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise SignatureError(f"{what} is out of range") from None


def check_freshness(signed_at: datetime, now: datetime, tolerance: timedelta) -> None:
    """Refuse a signature timestamp further than `tolerance` from `now` (replay protection)."""
    if abs(now - signed_at) > tolerance:
        raise SignatureError("signature timestamp is outside the allowed tolerance")
