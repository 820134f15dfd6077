"""Event contracts: CloudEvents 1.0 envelopes with typed payloads, one discriminated union.

Every event's `subject` is the lead id, which is also its Kafka key, so one lead's events keep
their order within a topic. `dataschema` names the payload's schema and version.
"""

from __future__ import annotations

import uuid
from datetime import datetime, time
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal, Self, TypeAlias

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter

EVENT_NAMESPACE = uuid.UUID("5b0c7a4e-5d1f-4c36-9d8e-2f6f1b0f7a11")


def deterministic_uuid(*parts: object) -> uuid.UUID:
    """A UUID that is the same every time the same fact is produced (uuid5 of its parts)."""
    return uuid.uuid5(EVENT_NAMESPACE, "/".join(str(part) for part in parts))


def deterministic_id(*parts: object) -> str:
    """An event id that is the same every time the same fact is produced (uuid5 of its parts)."""
    return str(deterministic_uuid(*parts))


class Payload(BaseModel):
    """Base of every event payload: immutable, strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class LeadSnapshot(Payload):
    """The lead as intake knows it: normalised contact, firmographics and provenance."""

    lead_id: uuid.UUID
    email: str
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    company_domain: str | None = None
    job_title: str | None = None
    phone: str | None = None
    country: str | None = None
    industry: str | None = None
    employee_count: int | None = None
    form_type: str | None = Field(
        default=None, description="What the person did: demo_request, contact_sales, ..."
    )
    lead_source: str | None = None
    campaign: str | None = None
    received_at: AwareDatetime
    attributes: dict[str, str] = Field(default_factory=dict)


class LeadUpdatedData(Payload):
    """A known person came back: the merged lead and which fields changed."""

    lead: LeadSnapshot
    changed_fields: list[str]


ActivityKind: TypeAlias = Literal[
    "accepted", "rejected", "contacted", "meeting_booked", "converted", "won", "lost"
]
FOLLOW_UP_KINDS: frozenset[str] = frozenset({"contacted", "meeting_booked", "converted", "won"})


class LeadActivityData(Payload):
    """What a rep did with a lead, as reported by the CRM."""

    activity_id: uuid.UUID
    lead_id: uuid.UUID
    kind: ActivityKind
    occurred_at: AwareDatetime
    rep_id: str | None = None
    reason: str | None = None
    channel: str | None = None
    amount: Decimal | None = None


class RuleHit(Payload):
    """One qualification rule that fired, with the points it gave."""

    rule: str
    points: int
    detail: str
    kind: Literal["fit", "behaviour", "negative"] | None = None


class Qualification(Payload):
    """The qualification packet: why a lead is (or is not) sales-ready."""

    policy_version: str
    score: int
    threshold: int
    is_mql: bool
    rules_fired: list[RuleHit]
    grade: Literal["A", "B", "C", "D", "E", "F"] | None = None
    fit_points: int | None = None
    hand_raise: bool = False
    reasons: list[str] = Field(default_factory=list, description="Why MQL or not, in words")


class RoutingDecision(Payload):
    """How the rep was chosen."""

    rule: str
    team: str
    candidates: list[str]
    reason: str | None = Field(default=None, description="Why this rep among the candidates")
    skipped: dict[str, str] = Field(
        default_factory=dict, description="Reps of the team not eligible, with the reason"
    )


class WorkingHours(Payload):
    """A rep's working days (0 = Monday) and hours, in the rep's own time zone."""

    days: list[Annotated[int, Field(ge=0, le=6)]] = Field(default_factory=lambda: [0, 1, 2, 3, 4])
    start: time = time(9)
    end: time = time(17)


class LeadAssignedData(Payload):
    """A sales-ready lead handed to a rep, with the reasons."""

    assignment_id: uuid.UUID
    lead_id: uuid.UUID
    rep_id: str
    rep_name: str
    manager: str | None
    team: str
    assigned_at: AwareDatetime
    qualification: Qualification
    routing: RoutingDecision
    lead: LeadSnapshot
    rep_time_zone: str | None = None
    rep_country: str | None = None
    rep_working_hours: WorkingHours | None = None
    priority: Literal["high", "normal", "low"] | None = None


class LeadNurturedData(Payload):
    """A lead sent (back) to marketing for nurture, with the reason."""

    lead_id: uuid.UUID
    reason: str
    decided_at: AwareDatetime
    qualification: Qualification | None = None


Milestone: TypeAlias = Literal["accept", "first_touch"]


class SlaStepData(Payload):
    """An SLA obligation that reached a step of its ladder (escalated, recycled)."""

    obligation_id: uuid.UUID
    lead_id: uuid.UUID
    assignment_id: uuid.UUID
    rep_id: str
    manager: str | None
    milestone: Milestone
    policy: str
    assigned_at: AwareDatetime
    due_at: AwareDatetime
    fired_at: AwareDatetime
    clock: Literal["business", "calendar"] | None = Field(
        default=None, description="Whether the policy counts business hours or calendar hours"
    )
    time_zone: str | None = Field(default=None, description="The zone business hours are in")
    target_seconds: float | None = Field(
        default=None, description="The milestone's target, in counted (business) seconds"
    )
    recycle_to: Literal["nurture", "reassign"] | None = Field(
        default=None, description="Where a recycled lead goes: back to nurture or another rep"
    )


class SlaMetData(Payload):
    """An SLA milestone met in time."""

    obligation_id: uuid.UUID
    lead_id: uuid.UUID
    assignment_id: uuid.UUID
    rep_id: str
    milestone: Milestone
    policy: str
    assigned_at: AwareDatetime
    met_at: AwareDatetime
    elapsed_seconds: float
    within_target: bool = Field(
        default=True, description="False when the milestone was met only after its target"
    )
    due_at: AwareDatetime | None = None
    target_seconds: float | None = Field(default=None, description="In counted seconds")
    counted_seconds: float | None = Field(
        default=None, description="Time that counted against the SLA (business time if so)"
    )
    paused_seconds: float | None = Field(
        default=None, description="Time the SLA clock stood still: nights, weekends, holidays"
    )
    clock: Literal["business", "calendar"] | None = None


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 envelope (JSON format). Subclasses fix `type`, `dataschema` and `data`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: ClassVar[str]
    schema_version: ClassVar[int] = 1

    specversion: Literal["1.0"] = "1.0"
    id: str
    source: str
    type: str
    time: AwareDatetime
    subject: str
    datacontenttype: Literal["application/json"] = "application/json"
    dataschema: str
    data: Any

    @classmethod
    def schema_uri(cls) -> str:
        return f"urn:handoff:event:{cls.event_type}:v{cls.schema_version}"

    @classmethod
    def build(cls, *, source: str, time: datetime, data: Any, event_id: str | None = None) -> Self:
        """An envelope for `data`; the subject is the payload's lead id."""
        return cls(
            id=event_id or str(uuid.uuid4()),
            source=source,
            type=cls.event_type,
            time=time,
            subject=str(data.lead_id if hasattr(data, "lead_id") else data.lead.lead_id),
            dataschema=cls.schema_uri(),
            data=data,
        )

    def to_json(self) -> bytes:
        # The serializer's bytes as they are: model_dump_json() would decode them to a str.
        return self.__pydantic_serializer__.to_json(self)


class LeadReceived(CloudEvent):
    """A new lead arrived."""

    event_type: ClassVar[str] = "lead.received"
    type: Literal["lead.received"] = "lead.received"
    data: LeadSnapshot


class LeadUpdated(CloudEvent):
    """A known lead arrived again and was merged."""

    event_type: ClassVar[str] = "lead.updated"
    type: Literal["lead.updated"] = "lead.updated"
    data: LeadUpdatedData


class LeadActivityRecorded(CloudEvent):
    """A rep activity was reported."""

    event_type: ClassVar[str] = "lead.activity"
    type: Literal["lead.activity"] = "lead.activity"
    data: LeadActivityData


class LeadAssigned(CloudEvent):
    """A lead was assigned to a rep."""

    event_type: ClassVar[str] = "lead.assigned"
    type: Literal["lead.assigned"] = "lead.assigned"
    data: LeadAssignedData


class LeadNurtured(CloudEvent):
    """A lead went to nurture."""

    event_type: ClassVar[str] = "lead.nurtured"
    type: Literal["lead.nurtured"] = "lead.nurtured"
    data: LeadNurturedData


class SlaWarned(CloudEvent):
    """A follow-up deadline is near; the rep is reminded."""

    event_type: ClassVar[str] = "lead.sla.warned"
    type: Literal["lead.sla.warned"] = "lead.sla.warned"
    data: SlaStepData


class SlaEscalated(CloudEvent):
    """A follow-up missed its first window; the manager is told."""

    event_type: ClassVar[str] = "lead.sla.escalated"
    type: Literal["lead.sla.escalated"] = "lead.sla.escalated"
    data: SlaStepData


class LeadRecycled(CloudEvent):
    """A follow-up missed its last window; the lead is taken back from the rep."""

    event_type: ClassVar[str] = "lead.sla.recycled"
    type: Literal["lead.sla.recycled"] = "lead.sla.recycled"
    data: SlaStepData


class SlaMet(CloudEvent):
    """A follow-up happened in time."""

    event_type: ClassVar[str] = "lead.sla.met"
    type: Literal["lead.sla.met"] = "lead.sla.met"
    data: SlaMetData


LeadEvent: TypeAlias = Annotated[
    LeadReceived
    | LeadUpdated
    | LeadActivityRecorded
    | LeadAssigned
    | LeadNurtured
    | SlaWarned
    | SlaEscalated
    | LeadRecycled
    | SlaMet,
    Field(discriminator="type"),
]
EVENT_CLASSES: tuple[type[CloudEvent], ...] = (
    LeadReceived,
    LeadUpdated,
    LeadActivityRecorded,
    LeadAssigned,
    LeadNurtured,
    SlaWarned,
    SlaEscalated,
    LeadRecycled,
    SlaMet,
)

_event_adapter: TypeAdapter[LeadEvent] = TypeAdapter(LeadEvent)


def decode_event(raw: bytes) -> LeadEvent:
    """Parse and validate one event from its JSON bytes; raises pydantic.ValidationError."""
    return _event_adapter.validate_json(raw)


def event_json_schema() -> dict[str, Any]:
    """The JSON Schema of every event, generated from the models (never written by hand)."""
    return _event_adapter.json_schema()
