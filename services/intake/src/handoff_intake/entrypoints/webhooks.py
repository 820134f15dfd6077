"""`/webhooks/{source_id}`: verify, parse, normalise and store what a form tool sent."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import structlog
from fastapi import APIRouter, HTTPException, Path, Request, Response, status
from fastapi.responses import JSONResponse

from handoff_intake.adapters.source_catalog import SOURCE_ID_PATTERN, Source
from handoff_intake.bootstrap import Intake
from handoff_intake.domain.leads import InvalidLead, Submission, prepare_submission
from handoff_intake.entrypoints.idempotency import (
    as_response,
    delivery_key,
    fingerprint,
    json_answer,
)
from handoff_intake.handlers import Delivery, ReceiveResult, StoredAnswer
from handoff_intake.sources.base import (
    AdapterResult,
    InboundRequest,
    PayloadError,
    PlainResponse,
    SignatureError,
    SourceError,
)
from handoff_intake.sources.registry import UnknownSourceKind, adapter_for

log = structlog.get_logger(__name__)

# Media types some supported tool posts; anything else cannot be one of their deliveries.
ACCEPTED_MEDIA_TYPES = frozenset(
    {
        "application/json",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
        "text/xml",
        "application/xml",
        "application/soap+xml",
        "text/plain",
    }
)

SourceId = Annotated[str, Path(pattern=SOURCE_ID_PATTERN, description="The configured source")]

router = APIRouter(tags=["webhooks"])

WEBHOOK_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The tool's own expected answer (a challenge echo, a SOAP ack)"},
    401: {"description": "Missing or wrong signature or token, or a stale timestamp"},
    404: {"description": "No such source"},
    413: {"description": "Body over the size cap"},
    415: {"description": "A content type no supported tool sends"},
    422: {"description": "Not the tool's documented format, or a lead without a valid email"},
    429: {"description": "Over the source's rate limit; see Retry-After"},
    503: {"description": "Backlog over its bound or the tool's API unreachable; see Retry-After"},
}
WEBHOOK_BODY = {
    "requestBody": {
        "required": False,
        "content": {media_type: {"schema": {}} for media_type in sorted(ACCEPTED_MEDIA_TYPES)},
    }
}


@router.post(
    "/webhooks/{source_id}",
    status_code=status.HTTP_202_ACCEPTED,
    responses=WEBHOOK_RESPONSES,
    openapi_extra=WEBHOOK_BODY,
    response_model=None,
)
async def post_webhook(source_id: SourceId, request: Request) -> Response:
    """Take a delivery from a form tool; 202 once every lead in it is durably stored."""
    # The runtime is read directly rather than through a dependency: this is the hot path.
    return await _receive(source_id, request, request.app.state.intake)


@router.get("/webhooks/{source_id}", responses=WEBHOOK_RESPONSES, response_model=None)
async def get_webhook(source_id: SourceId, request: Request) -> Response:
    """A tool's subscription handshake, such as Facebook's verification challenge."""
    return await _receive(source_id, request, request.app.state.intake)


async def _receive(source_id: str, request: Request, intake: Intake) -> Response:
    source = await intake.catalog.get(source_id)
    if source is None or not source.enabled:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no source {source_id}")
    wait = await intake.rate_limiter.retry_after(source_id, source.rate_limit)
    if wait is not None:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail=f"source {source_id} is over its rate limit",
            headers={"Retry-After": str(wait)},
        )
    if intake.backlog.pending > intake.settings.outbox_backlog_limit:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail="too many events wait to be published; retry later",
            headers={"Retry-After": str(intake.settings.backlog_retry_after_seconds)},
        )
    body = await request.body()
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if body and media_type not in ACCEPTED_MEDIA_TYPES:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            detail=f"unsupported content type {media_type or '(none)'}",
        )
    inbound = InboundRequest(
        method=request.method,
        url=_public_url(intake, request),
        headers=dict(request.headers),
        query=dict(request.query_params),
        body=body,
    )
    result = await _parse(source, inbound, intake)
    if not result.leads:
        if result.response is not None:
            return _plain(result.response)
        return JSONResponse({"delivery_id": result.delivery_id, "leads": []}, status_code=202)
    submissions = _submissions(source, result)
    delivery = Delivery(
        channel=f"webhook:{source_id}",
        delivery_id=delivery_key(result.delivery_id, body),
        request_hash=fingerprint(body),
        content_type=content_type[:200],
        body=body,
    )

    def respond(results: list[ReceiveResult]) -> StoredAnswer:
        if result.response is not None:
            return StoredAnswer(
                result.response.status_code,
                result.response.media_type,
                result.response.body,
                delivery.request_hash,
            )
        return json_answer(
            status.HTTP_202_ACCEPTED,
            {
                "delivery_id": result.delivery_id,
                "leads": [
                    {"lead_id": str(item.lead_id), "outcome": item.outcome} for item in results
                ],
            },
            delivery.request_hash,
        )

    answer, replayed = await intake.writer.store(delivery, submissions, respond)
    return as_response(answer, replayed=replayed)


async def _parse(source: Source, inbound: InboundRequest, intake: Intake) -> AdapterResult:
    try:
        adapter = adapter_for(source.config.kind)
    except UnknownSourceKind:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, detail=f"source {source.config.source_id} has no adapter"
        ) from None
    try:
        return await adapter.handle(inbound, source.config, intake.clock.now(), intake.http)
    except SignatureError as error:
        raise HTTPException(
            error.status_code, detail=str(error), headers={"WWW-Authenticate": "Signature"}
        ) from None
    except PayloadError as error:
        raise HTTPException(error.status_code, detail=error.errors) from None
    except SourceError as error:
        raise HTTPException(error.status_code, detail=str(error)) from None
    except httpx.HTTPError as error:
        # The tool's own API (Graph API, LinkedIn) failed; the tool retries on a 5xx.
        log.warning("source_api_unavailable", source=source.config.source_id, error=repr(error))
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail="the source's API could not be reached to fetch the lead",
            headers={"Retry-After": "30"},
        ) from None
    except Exception:
        # An input the adapter did not foresee: refuse it clearly rather than answer 500.
        log.exception("source_adapter_failed", source=source.config.source_id)
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=[{"loc": ["body"], "msg": "the body could not be parsed as this tool's format"}],
        ) from None


def _submissions(source: Source, result: AdapterResult) -> list[Submission]:
    submissions: list[Submission] = []
    problems: list[dict[str, Any]] = []
    for index, lead in enumerate(result.leads):
        try:
            submissions.append(
                prepare_submission(
                    lead.email,
                    lead.fields,
                    lead.attributes,
                    defaults=source.defaults,
                    external_id=lead.external_id,
                    source_id=source.config.source_id,
                )
            )
        except InvalidLead as invalid:
            problems.extend(
                {"loc": ["body", "leads", index, *problem.loc], "msg": problem.msg}
                for problem in invalid.problems
            )
    if problems:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=problems)
    return submissions


def _public_url(intake: Intake, request: Request) -> str:
    base = intake.settings.public_base_url.rstrip("/")
    query = request.url.query
    return f"{base}{request.url.path}" + (f"?{query}" if query else "")


def _plain(response: PlainResponse) -> Response:
    return Response(response.body, response.status_code, media_type=response.media_type)
