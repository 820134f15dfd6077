"""JSON posted by automation tools and form plug-ins that authenticate with a shared token.

Gravity Forms (Webhooks add-on, the entry's fields keyed by field id such as `1.3`, with `id`
and `form_id`), Zapier and Make (whatever the zap or scenario maps) and Google Forms via an Apps
Script `UrlFetchApp.fetch` (`responseId` and the answers by question title, optionally under
`answers` or `namedValues`). None of them sign requests: each sends the source's secret as
`Authorization: Bearer ...`, `X-Handoff-Token` or `?token=...`, compared in constant time.
Option `field_map` maps lead fields to their keys where labels are not self-explanatory.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

import httpx

from handoff_intake.sources.base import AdapterResult, InboundRequest, SourceConfig
from handoff_intake.sources.payloads import Answer, flatten, json_object, lead_from_answers
from handoff_intake.sources.signing import shared_token, verify_token


class SharedTokenJsonAdapter:
    """A JSON webhook whose answers sit at the top level or under one of `answer_containers`."""

    kind: ClassVar[str]
    delivery_id_keys: ClassVar[tuple[str, ...]] = ("id", "event_id", "submission_id")
    answer_containers: ClassVar[tuple[str, ...]] = ()

    async def handle(
        self, request: InboundRequest, config: SourceConfig, now: datetime, http: httpx.AsyncClient
    ) -> AdapterResult:
        verify_token(config, shared_token(request, str(config.options.get("token_param", "token"))))
        body = json_object(request)
        values: dict[str, Any] = {}
        for container in self.answer_containers:
            if isinstance(nested := body.pop(container, None), dict):
                values.update(nested)
        values.update(body)
        flat = flatten(values)
        id_keys = (str(config.options.get("delivery_id_path", "")), *self.delivery_id_keys)
        delivery_id = next((flat[key] for key in id_keys if key and key in flat), None)
        lead = lead_from_answers([Answer(key, value) for key, value in flat.items()], config)
        return AdapterResult(delivery_id=delivery_id, leads=[lead])


class GravityFormsAdapter(SharedTokenJsonAdapter):
    """Gravity Forms Webhooks add-on, all entry fields as JSON."""

    kind = "gravityforms"


class ZapierAdapter(SharedTokenJsonAdapter):
    """A Zapier "Webhooks by Zapier" POST with JSON payload type."""

    kind = "zapier"


class MakeAdapter(SharedTokenJsonAdapter):
    """A Make (Integromat) HTTP module sending JSON."""

    kind = "make"


class GoogleFormsAdapter(SharedTokenJsonAdapter):
    """A Google Forms `onFormSubmit` Apps Script posting the response with UrlFetchApp."""

    kind = "googleforms"
    delivery_id_keys = ("responseId", "response_id", "id")
    answer_containers = ("answers", "namedValues")
