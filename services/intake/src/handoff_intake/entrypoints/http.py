"""Intake's HTTP API. Endpoints parse, call a handler inside one transaction, and answer."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, HTTPException, Request, Response, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, EmailStr, Field, model_validator

from handoff_intake.bootstrap import Intake, bootstrap, migrate
from handoff_intake.domain.leads import Submission
from handoff_intake.handlers import ActivityReport, LeadNotFound
from handoff_intake.settings import IntakeSettings
from handoff_shared.events import ActivityKind
from handoff_shared.tracing import child_traceparent, current_traceparent

Text = Annotated[str, Field(min_length=1, max_length=200)]


class LeadIn(BaseModel):
    """A lead as a CRM or a form tool sends it."""

    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    first_name: Text | None = None
    last_name: Text | None = None
    company: Text | None = None
    job_title: Text | None = None
    phone: Annotated[str, Field(max_length=40)] | None = None
    country: Text | None = None
    industry: Text | None = None
    employee_count: Annotated[int, Field(ge=0, le=10_000_000)] | None = None
    form_type: Annotated[str, Field(max_length=64)] | None = Field(
        default=None, examples=["demo_request", "contact_sales", "content_download"]
    )
    lead_source: Text | None = None
    campaign: Text | None = None
    attributes: dict[
        Annotated[str, Field(max_length=64)], Annotated[str, Field(max_length=1000)]
    ] = Field(default_factory=dict, max_length=50)


class LeadAccepted(BaseModel):
    lead_id: uuid.UUID
    outcome: Literal["created", "updated", "unchanged"]


class ActivityIn(BaseModel):
    """Something a rep did with a lead."""

    model_config = ConfigDict(extra="forbid")

    kind: ActivityKind
    occurred_at: AwareDatetime | None = None
    rep_id: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    reason: Annotated[str, Field(min_length=1, max_length=500)] | None = None
    channel: Literal["call", "email", "meeting", "sms", "social", "other"] | None = None
    amount: Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2)] | None = None

    @model_validator(mode="after")
    def _reason_for_rejection(self) -> ActivityIn:
        if self.kind == "rejected" and not self.reason:
            raise ValueError("a rejection needs a reason")
        return self


class ActivityAccepted(BaseModel):
    activity_id: uuid.UUID


class TimelineEntry(BaseModel):
    kind: str
    occurred_at: datetime
    event_id: str
    detail: dict[str, Any]


class LeadView(BaseModel):
    lead: dict[str, Any]
    status: str
    created_at: datetime
    updated_at: datetime
    timeline: list[TimelineEntry]


def runtime(request: Request) -> Intake:
    intake: Intake = request.app.state.intake
    return intake


IntakeDep = Annotated[Intake, Depends(runtime)]


def require_api_key(
    request: Request,
    x_api_key: Annotated[str | None, Header(description="The caller's API key")] = None,
) -> None:
    keys: list[str] = request.app.state.settings.api_keys
    if x_api_key is None or not any(
        hmac.compare_digest(x_api_key.encode(), key.encode()) for key in keys
    ):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="missing or unknown X-API-Key",
            headers={"WWW-Authenticate": "ApiKey"},
        )


def create_app(settings: IntakeSettings | None = None, intake: Intake | None = None) -> FastAPI:
    """The intake app; tests may pass a prepared Intake."""
    settings = settings or IntakeSettings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(migrate, settings)
        runtime = intake or bootstrap(settings)
        app.state.intake = runtime
        background = [
            asyncio.create_task(runtime.relay.run(), name="outbox-relay"),
            asyncio.create_task(runtime.consumer.run(), name="timeline-consumer"),
        ]
        try:
            yield
        finally:
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            await runtime.publisher.stop()
            await runtime.engine.dispose()

    app = FastAPI(
        title="Handoff intake",
        version="0.1.0",
        summary="Receives leads and rep activity; every 202 is a lead durably stored.",
        lifespan=lifespan,
    )
    app.state.settings = settings

    @app.middleware("http")
    async def trace_context(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        current_traceparent.set(child_traceparent(request.headers.get("traceparent")))
        return await call_next(request)

    authorised = [Depends(require_api_key)]

    @app.post(
        "/leads",
        status_code=status.HTTP_202_ACCEPTED,
        dependencies=authorised,
        responses={401: {"description": "Missing or unknown API key"}},
    )
    async def post_lead(lead: LeadIn, intake: IntakeDep) -> LeadAccepted:
        """Store a lead (or merge a returning person); 202 means stored and due to be published."""
        submission = Submission(
            email=str(lead.email),
            fields=lead.model_dump(exclude={"email", "attributes"}),
            attributes=lead.attributes,
        )
        async with intake.sessions.begin() as session:
            result = await intake.handlers.receive_lead(session, submission)
        return LeadAccepted(lead_id=result.lead_id, outcome=result.outcome)

    @app.post(
        "/leads/{lead_id}/activities",
        status_code=status.HTTP_202_ACCEPTED,
        dependencies=authorised,
        responses={
            401: {"description": "Missing or unknown API key"},
            404: {"description": "No such lead"},
        },
    )
    async def post_activity(
        lead_id: uuid.UUID, activity: ActivityIn, intake: IntakeDep
    ) -> ActivityAccepted:
        """Record a rep's activity: accepted, rejected (with a reason), contacted, and so on."""
        report = ActivityReport(**activity.model_dump())
        try:
            async with intake.sessions.begin() as session:
                activity_id = await intake.handlers.record_activity(session, lead_id, report)
        except LeadNotFound:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no lead {lead_id}") from None
        return ActivityAccepted(activity_id=activity_id)

    @app.get(
        "/leads/{lead_id}",
        dependencies=authorised,
        responses={
            401: {"description": "Missing or unknown API key"},
            404: {"description": "No such lead"},
        },
    )
    async def get_lead(lead_id: uuid.UUID, intake: IntakeDep) -> LeadView:
        """The lead with its timeline: received, routed, activity, SLA steps."""
        try:
            async with intake.sessions() as session:
                view = await intake.handlers.get_lead(session, lead_id)
        except LeadNotFound:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no lead {lead_id}") from None
        return LeadView.model_validate(view)

    @app.get("/healthz")
    async def health() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    return app
