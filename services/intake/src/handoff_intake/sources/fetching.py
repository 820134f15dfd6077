"""Reading a lead's fields from the tool's API when the webhook only carries ids."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from handoff_intake.sources.base import SourceConfig, UpstreamError
from handoff_intake.sources.payloads import fail


def required_option(config: SourceConfig, name: str) -> str:
    """A source option the adapter cannot work without (a missing one is a set-up fault)."""
    value = config.options.get(name)
    if not value:
        raise UpstreamError(f"source {config.source_id} has no {name} configured")
    return str(value)


async def fetch_json(
    http: httpx.AsyncClient,
    url: str,
    what: str,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """GET a JSON object; an unknown id is the sender's error, anything else is retryable."""
    try:
        response = await http.get(url, params=params, headers=headers)
    except httpx.HTTPError as error:
        raise UpstreamError(f"could not fetch the {what}: {type(error).__name__}") from None
    if response.status_code == httpx.codes.NOT_FOUND:
        raise fail([], f"the {what} named in the webhook does not exist")
    if not response.is_success:
        raise UpstreamError(f"fetching the {what} answered {response.status_code}")
    try:
        document = response.json()
    except ValueError:
        raise UpstreamError(f"the {what} is not JSON") from None
    if not isinstance(document, dict):
        raise UpstreamError(f"the {what} is not a JSON object")
    return document
