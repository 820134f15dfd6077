"""The CRM's REST API: create, correct, read and search leads; report rep activity."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from handoff_intake.adapters.api_keys import Principal
from handoff_intake.domain.leads import (
    InvalidLead,
    SourceDefaults,
    prepare_submission,
)
from handoff_intake.domain.normalise import InvalidEmail, normalise_email, unstorable_path
from handoff_intake.entrypoints.idempotency import (
    as_response,
    delivery_key,
    fingerprint,
    json_answer,
    run_once,
)
from handoff_intake.entrypoints.schemas import (
    ActivityAccepted,
    ActivityIn,
    LeadAccepted,
    LeadIn,
    LeadPage,
    LeadPatch,
    LeadSummary,
    LeadView,
)
from handoff_intake.entrypoints.security import AUTH_RESPONSES, IntakeDep, require
from handoff_intake.handlers import ActivityReport, Delivery, LeadNotFound, LeadQuery, StoredAnswer

REST_SOURCE = "api"
Stored = tuple[StoredAnswer, list[str]]
Store = Callable[[AsyncSession, str], Awaitable[Stored]]
MAX_PAGE = 200

router = APIRouter(tags=["leads"])

Reader = Annotated[Principal, Depends(require("leads:read"))]
Writer = Annotated[Principal, Depends(require("leads:write"))]
ActivityWriter = Annotated[Principal, Depends(require("activities:write"))]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Repeating a call with the same key replays the first answer",
    ),
]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such lead"}}
REPLAY_MISMATCH: dict[int | str, dict[str, Any]] = {
    422: {"description": "Invalid body, or an Idempotency-Key reused for a different request"}
}


async def _once(
    request: Request,
    intake: IntakeDep,
    principal: Principal,
    idempotency_key: str | None,
    store: Store,
) -> Response:
    body = await request.body()
    request_hash = fingerprint(request.method, request.url.path, body)
    delivery = Delivery(
        channel=f"api:{principal.key_id}",
        delivery_id=delivery_key(idempotency_key or str(uuid.uuid4()), body),
        request_hash=request_hash,
        content_type=request.headers.get("content-type", "")[:200],
        body=body,
    )
    try:
        answer, replayed = await run_once(
            intake, delivery, lambda session: store(session, request_hash)
        )
    except LeadNotFound as missing:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no lead {missing}") from None
    except InvalidLead as invalid:
        raise _invalid(invalid) from None
    if replayed and answer.request_hash != request_hash:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail="this Idempotency-Key was used for a different request",
        )
    return as_response(answer, replayed=replayed)


def _invalid(problems: InvalidLead) -> HTTPException:
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        detail=[
            {"loc": ["body", *problem.loc], "msg": problem.msg, "type": "value_error"}
            for problem in problems.problems
        ],
    )


@router.post(
    "/leads",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=LeadAccepted,
    responses={**AUTH_RESPONSES, **REPLAY_MISMATCH},
)
async def post_lead(
    lead: LeadIn,
    request: Request,
    intake: IntakeDep,
    principal: Writer,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Store a lead (or merge a returning person); 202 means stored and due to be published."""
    try:
        submission = prepare_submission(
            str(lead.email),
            lead.model_dump(exclude={"email", "attributes", "external_id"}),
            lead.attributes,
            defaults=SourceDefaults(lead_source=None),
            external_id=lead.external_id,
            source_id=REST_SOURCE,
            strict=True,
        )
    except InvalidLead as invalid:
        raise _invalid(invalid) from None

    async def store(session: AsyncSession, request_hash: str) -> Stored:
        result = await intake.handlers.receive_lead(session, submission)
        accepted = LeadAccepted(lead_id=result.lead_id, outcome=result.outcome)
        return json_answer(
            status.HTTP_202_ACCEPTED, accepted.model_dump(mode="json"), request_hash
        ), [str(result.lead_id)]

    return await _once(request, intake, principal, idempotency_key, store)


@router.patch(
    "/leads/{lead_id}",
    response_model=LeadAccepted,
    responses={**AUTH_RESPONSES, **NOT_FOUND, **REPLAY_MISMATCH},
)
async def patch_lead(
    lead_id: uuid.UUID,
    patch: LeadPatch,
    request: Request,
    intake: IntakeDep,
    principal: Writer,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Correct a lead's fields; a change publishes lead.updated and goes on the timeline."""
    fields = patch.model_dump(exclude={"attributes"}, exclude_none=True)

    async def store(session: AsyncSession, request_hash: str) -> Stored:
        result = await intake.handlers.update_lead(session, lead_id, fields, patch.attributes)
        accepted = LeadAccepted(lead_id=result.lead_id, outcome=result.outcome)
        return json_answer(status.HTTP_200_OK, accepted.model_dump(mode="json"), request_hash), [
            str(lead_id)
        ]

    return await _once(request, intake, principal, idempotency_key, store)


@router.post(
    "/leads/{lead_id}/activities",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ActivityAccepted,
    responses={**AUTH_RESPONSES, **NOT_FOUND, **REPLAY_MISMATCH},
)
async def post_activity(
    lead_id: uuid.UUID,
    activity: ActivityIn,
    request: Request,
    intake: IntakeDep,
    principal: ActivityWriter,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Report a rep's activity: accepted, rejected (with a configured reason), contacted (with
    its channel), meeting booked, converted, won or lost (with the amount)."""
    reasons = intake.settings.rejection_reasons
    if activity.kind == "rejected" and activity.reason not in reasons:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=[
                {
                    "loc": ["body", "reason"],
                    "msg": f"not a configured rejection reason; one of {', '.join(reasons)}",
                    "type": "value_error",
                }
            ],
        )
    report = ActivityReport(**activity.model_dump())

    async def store(session: AsyncSession, request_hash: str) -> Stored:
        activity_id = await intake.handlers.record_activity(session, lead_id, report)
        return json_answer(
            status.HTTP_202_ACCEPTED, {"activity_id": str(activity_id)}, request_hash
        ), [str(lead_id)]

    return await _once(request, intake, principal, idempotency_key, store)


@router.get("/leads/{lead_id}", responses={**AUTH_RESPONSES, **NOT_FOUND})
async def get_lead(lead_id: uuid.UUID, intake: IntakeDep, _reader: Reader) -> LeadView:
    """The lead with its timeline: received, updated, routed, activity, SLA steps."""
    try:
        async with intake.sessions() as session:
            view = await intake.handlers.get_lead(session, lead_id)
    except LeadNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no lead {lead_id}") from None
    return LeadView.model_validate(view)


@router.get("/leads", responses=AUTH_RESPONSES)
async def search_leads(
    intake: IntakeDep,
    _reader: Reader,
    email: Annotated[str | None, Query(max_length=320)] = None,
    lead_status: Annotated[
        str | None, Query(alias="status", max_length=32, examples=["assigned"])
    ] = None,
    source: Annotated[str | None, Query(max_length=100, description="A source id, or api")] = None,
    created_from: Annotated[datetime | None, Query(description="Inclusive")] = None,
    created_to: Annotated[datetime | None, Query(description="Exclusive")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> LeadPage:
    """Leads matching every given filter, newest first, a page at a time."""
    problems: list[dict[str, Any]] = [
        {"loc": ["query", name], "msg": "contains a NUL character or an unpaired surrogate"}
        for name, value in (("email", email), ("status", lead_status), ("source", source))
        if value is not None and unstorable_path(value) is not None
    ]
    normalised_email = None
    if email is not None:
        try:
            normalised_email = normalise_email(email).address
        except InvalidEmail as error:
            problems.append({"loc": ["query", "email"], "msg": str(error)})
    for name, moment in (("created_from", created_from), ("created_to", created_to)):
        if moment is not None and moment.tzinfo is None:
            problems.append({"loc": ["query", name], "msg": "needs a time zone offset"})
    after = None
    if cursor is not None:
        after = _decode_cursor(cursor)
        if after is None:
            problems.append({"loc": ["query", "cursor"], "msg": "not a cursor this API gave"})
    if problems:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=problems)
    query = LeadQuery(
        email=normalised_email,
        status=lead_status,
        source_id=source,
        created_from=created_from,
        created_to=created_to,
        after=after,
        limit=limit,
    )
    async with intake.sessions() as session:
        rows = await intake.handlers.search_leads(session, query)
    items = [LeadSummary.model_validate(row) for row in rows]
    next_cursor = _encode_cursor(items[-1]) if len(items) == limit else None
    return LeadPage(items=items, next_cursor=next_cursor)


def _encode_cursor(last: LeadSummary) -> str:
    return base64.urlsafe_b64encode(f"{last.created_at.isoformat()}|{last.id}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID] | None:
    try:
        moment, lead_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        created_at = datetime.fromisoformat(moment)
        if created_at.tzinfo is None:
            return None
        return created_at, uuid.UUID(lead_id)
    except (binascii.Error, UnicodeError, ValueError):
        return None
