"""The contract between intake's HTTP edge and its source adapters (one per form tool or CRM).

An adapter sees the raw request (signatures are computed over the exact bytes), verifies it with
the source's configured secrets, and parses the tool's payload into leads. It does no database
work; the edge stores what it returns in one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol

import httpx


@dataclass(frozen=True)
class InboundRequest:
    """A webhook request as received: method, the full public URL, headers, raw body."""

    method: str
    url: str
    headers: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        """A header by case-insensitive name."""
        wanted = name.lower()
        return next((value for key, value in self.headers.items() if key.lower() == wanted), None)


@dataclass(frozen=True)
class SourceConfig:
    """What an adapter needs to know about one configured source."""

    source_id: str
    kind: str
    secrets: tuple[str, ...]
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ParsedLead:
    """One lead found in a delivery, before intake normalises and stores it."""

    email: str | None
    fields: dict[str, Any]
    attributes: dict[str, str]
    external_id: str | None = None
    # Set when one delivery carries several leads (Salesforce notifications, Facebook leadgen ids):
    # the tool's own id for this lead, so a redelivery in a different batch is still recognised.
    delivery_id: str | None = None


@dataclass(frozen=True)
class PlainResponse:
    """A body the tool itself expects back (a SOAP acknowledgement, a challenge echo)."""

    status_code: int
    body: bytes
    media_type: str


@dataclass(frozen=True)
class AdapterResult:
    """What a request amounted to: a delivery of leads, a special answer, or both."""

    delivery_id: str | None
    leads: list[ParsedLead]
    response: PlainResponse | None = None


class SourceError(Exception):
    """A request a source adapter refuses; `status_code` is the answer intake gives."""

    status_code: ClassVar[int] = 400


class SignatureError(SourceError):
    """Missing, malformed or wrong signature, or a timestamp outside the tolerance."""

    status_code = 401


class PayloadError(SourceError):
    """The body is not the tool's documented format; `errors` say what is wrong where."""

    status_code = 422

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or [{"loc": ["body"], "msg": message}]


class UpstreamError(SourceError):
    """The tool's own API, which holds the lead's fields, failed; the tool should retry later."""

    status_code = 503


class SourceAdapter(Protocol):
    """One form tool's or CRM's webhook format and signature scheme."""

    kind: ClassVar[str]

    async def handle(
        self, request: InboundRequest, config: SourceConfig, now: datetime, http: httpx.AsyncClient
    ) -> AdapterResult: ...
