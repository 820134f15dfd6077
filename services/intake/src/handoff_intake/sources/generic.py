"""A source whose field mapping is configuration: JSON or form-encoded, token or HMAC.

Options: `field_map` (lead field -> dotted path such as `contact.email`), `delivery_id_path`,
`external_id_path`; `signature_header` switches authentication from a shared token
(`Authorization: Bearer`, `X-Handoff-Token` or `?token=`) to an HMAC-SHA256 of the raw body
under one of the secrets, hex unless `signature_encoding` is `base64`, after an optional
`signature_prefix` such as `sha256=`.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

import httpx

from handoff_intake.sources.base import AdapterResult, InboundRequest, SourceConfig
from handoff_intake.sources.payloads import (
    Answer,
    flatten,
    form_body,
    json_object,
    lead_from_answers,
)
from handoff_intake.sources.signing import Encoding, shared_token, verify_hmac, verify_token


class GenericAdapter:
    """Any JSON or form-encoded webhook, mapped by the source's `field_map`."""

    kind: ClassVar[str] = "generic"

    async def handle(
        self, request: InboundRequest, config: SourceConfig, now: datetime, http: httpx.AsyncClient
    ) -> AdapterResult:
        authenticate(request, config)
        content_type = (request.header("content-type") or "").lower()
        if content_type.startswith("application/x-www-form-urlencoded"):
            values = form_body(request)
        else:
            values = flatten(json_object(request))
        delivery_id = _at(values, config.options.get("delivery_id_path"))
        external_id = _at(values, config.options.get("external_id_path"))
        lead = lead_from_answers(
            [Answer(path, value) for path, value in values.items()], config, external_id=external_id
        )
        return AdapterResult(delivery_id=delivery_id, leads=[lead])


def authenticate(request: InboundRequest, config: SourceConfig) -> None:
    """A configured signature header's HMAC, or else the shared token."""
    header = config.options.get("signature_header")
    if not header:
        verify_token(config, shared_token(request))
        return
    presented = request.header(str(header))
    prefix = str(config.options.get("signature_prefix", ""))
    if presented is not None and prefix:
        presented = presented.removeprefix(prefix) if presented.startswith(prefix) else None
    encoding: Encoding = "base64" if config.options.get("signature_encoding") == "base64" else "hex"
    verify_hmac(config, request.body, presented, encoding, f"{header} signature")


def _at(values: dict[str, str], path: object) -> str | None:
    return values.get(str(path)) if path else None
