"""Helpers for the source adapter tests: fixtures on disk, requests, signing."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from handoff_intake.sources.base import AdapterResult, InboundRequest, SourceConfig
from handoff_intake.sources.registry import adapter_for

NOW = datetime(2026, 11, 22, 14, 30, tzinfo=UTC)
SECRET = "whsec-current-0123456789"
OLD_SECRET = "whsec-previous-9876543210"
PAYLOADS = Path(__file__).parent / "payloads"


def payload(name: str) -> bytes:
    """A recorded payload in the tool's documented format."""
    return (PAYLOADS / name).read_bytes()


def hmac_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def hmac_b64(secret: str, message: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def config(kind: str, secrets: tuple[str, ...] = (SECRET,), **options: Any) -> SourceConfig:
    return SourceConfig(source_id=f"{kind}-test", kind=kind, secrets=secrets, options=options)


def inbound(
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    query: Mapping[str, str] | None = None,
    method: str = "POST",
    url: str = "https://intake.example.com/webhooks/src",
) -> InboundRequest:
    return InboundRequest(
        method=method, url=url, headers=dict(headers or {}), query=dict(query or {}), body=body
    )


def handle(
    request: InboundRequest,
    source: SourceConfig,
    now: datetime = NOW,
    transport: Callable[[httpx.Request], httpx.Response] | None = None,
) -> AdapterResult:
    """Run the source's adapter on one request; its httpx client never leaves the process."""

    def offline(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"unexpected outgoing request {request.url}")

    async def run() -> AdapterResult:
        async with httpx.AsyncClient(transport=httpx.MockTransport(transport or offline)) as http:
            return await adapter_for(source.kind).handle(request, source, now, http)

    return asyncio.run(run())
