"""Account Engagement (Pardot) form handlers forwarding their data to intake.

A form handler with data forwarding posts the submitted fields form-encoded under the names
the form handler maps (email, first_name, ...). There is no signature, so the URL configured
as the success location carries the source's secret as `?token=...` (or option `token_param`).
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

import httpx

from handoff_intake.sources.base import AdapterResult, InboundRequest, SourceConfig
from handoff_intake.sources.payloads import (
    answers_from,
    fail,
    form_or_multipart_body,
    lead_from_answers,
)
from handoff_intake.sources.signing import query_token, verify_token


class PardotAdapter:
    """Account Engagement form-handler posts, authenticated by a token in the URL."""

    kind: ClassVar[str] = "pardot"

    async def handle(
        self, request: InboundRequest, config: SourceConfig, now: datetime, http: httpx.AsyncClient
    ) -> AdapterResult:
        verify_token(config, query_token(request, config), "form handler URL token")
        form = form_or_multipart_body(request)
        if not any(form.values()):
            raise fail([], "expected the form handler's fields, form-encoded")
        return AdapterResult(
            delivery_id=None, leads=[lead_from_answers(answers_from(form), config)]
        )
