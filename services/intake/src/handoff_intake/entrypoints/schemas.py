"""Request and response bodies of intake's HTTP API (the OpenAPI schema is generated from them)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, EmailStr, Field, model_validator

from handoff_intake.adapters.api_keys import Scope
from handoff_intake.adapters.source_catalog import SourceSettings
from handoff_intake.domain.normalise import StorableInput
from handoff_shared.events import ActivityKind

Text = Annotated[str, Field(min_length=1, max_length=200)]
Attributes = Annotated[
    dict[Annotated[str, Field(max_length=64)], Annotated[str, Field(max_length=1000)]],
    Field(max_length=50),
]


class LeadFields(StorableInput):
    """The lead fields a CRM may set."""

    model_config = ConfigDict(extra="forbid")

    first_name: Text | None = None
    last_name: Text | None = None
    company: Text | None = None
    job_title: Text | None = None
    phone: Annotated[str, Field(max_length=40, examples=["+49 30 1234567"])] | None = Field(
        default=None, description="Any format; stored as E.164, read in the lead's country"
    )
    country: Text | None = Field(default=None, description="A name or an ISO 3166 code")
    industry: Text | None = None
    employee_count: Annotated[int, Field(ge=0, le=10_000_000)] | None = None
    form_type: Annotated[str, Field(max_length=64)] | None = Field(
        default=None, examples=["demo_request", "contact_sales", "content_download"]
    )
    campaign: Text | None = None
    attributes: Attributes = Field(default_factory=dict)


class LeadIn(LeadFields):
    """A lead as a CRM or a form tool sends it."""

    email: EmailStr
    lead_source: Text | None = None
    external_id: Annotated[str, Field(min_length=1, max_length=200)] | None = Field(
        default=None, description="The CRM's own id; the same id inside the window is one lead"
    )


class LeadPatch(LeadFields):
    """Corrections to a lead; only the fields given change."""


class LeadAccepted(BaseModel):
    lead_id: uuid.UUID
    outcome: Literal["created", "updated", "unchanged"]


class WebhookAccepted(BaseModel):
    """What a delivery became: the delivery id it is deduplicated by, and each lead."""

    delivery_id: str | None
    leads: list[LeadAccepted]


class ActivityIn(StorableInput):
    """Something a rep did with a lead."""

    model_config = ConfigDict(extra="forbid")

    kind: ActivityKind
    occurred_at: AwareDatetime | None = None
    rep_id: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    reason: Annotated[str, Field(min_length=1, max_length=500)] | None = Field(
        default=None, description="Required for a rejection: one of the configured reasons"
    )
    channel: Literal["call", "email", "meeting", "sms", "social", "other"] | None = Field(
        default=None, description="Required for `contacted`"
    )
    amount: Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2)] | None = Field(
        default=None, description="Deal amount; required for `won`"
    )

    @model_validator(mode="after")
    def _required_detail(self) -> ActivityIn:
        if self.kind == "rejected" and not self.reason:
            raise ValueError("a rejection needs a reason")
        if self.kind == "contacted" and self.channel is None:
            raise ValueError("a contact needs its channel")
        if self.kind == "won" and self.amount is None:
            raise ValueError("a won deal needs its amount")
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


class LeadSummary(BaseModel):
    id: uuid.UUID
    email: str
    status: str
    source_id: str | None
    created_at: datetime
    updated_at: datetime
    lead: dict[str, Any] = Field(validation_alias="snapshot")


class LeadPage(BaseModel):
    items: list[LeadSummary]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page")


class SourceView(SourceSettings):
    """A source as the admin API shows it: secrets and secret-like options as hints only."""

    id: str
    secrets: list[str] = Field(description="Hints: the last characters of each active secret")


class SecretIn(StorableInput):
    """A new signing secret; the newest previous one stays valid until the next rotation."""

    model_config = ConfigDict(extra="forbid")

    secret: Annotated[str, Field(min_length=1, max_length=1000)]


class ApiKeyIn(StorableInput):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=200)]
    scopes: Annotated[list[Scope], Field(min_length=1)]


class ApiKeyView(BaseModel):
    id: uuid.UUID
    name: str
    hint: str
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyIssued(BaseModel):
    """A new key; `key` is shown this once and stored only as a hash."""

    id: uuid.UUID
    name: str
    scopes: list[str]
    key: str
