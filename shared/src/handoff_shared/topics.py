"""The topic registry: which events travel where, who writes and who reads them."""

from __future__ import annotations

from dataclasses import dataclass

from handoff_shared.events import (
    CloudEvent,
    LeadActivityRecorded,
    LeadAssigned,
    LeadNurtured,
    LeadReceived,
    LeadRecycled,
    LeadUpdated,
    SlaEscalated,
    SlaMet,
    SlaWarned,
)


@dataclass(frozen=True)
class Topic:
    """A Kafka topic, its event types, producer and consumers."""

    name: str
    events: tuple[type[CloudEvent], ...]
    producer: str
    consumers: tuple[str, ...]


LEAD_INTAKE = Topic("lead.intake", (LeadReceived, LeadUpdated), "intake", ("router",))
LEAD_ACTIVITY = Topic("lead.activity", (LeadActivityRecorded,), "intake", ("router", "sla-monitor"))
LEAD_ROUTING = Topic(
    "lead.routing", (LeadAssigned, LeadNurtured), "router", ("sla-monitor", "intake")
)
LEAD_SLA = Topic(
    "lead.sla", (SlaWarned, SlaEscalated, LeadRecycled, SlaMet), "sla-monitor", ("router", "intake")
)
TOPICS: tuple[Topic, ...] = (LEAD_INTAKE, LEAD_ACTIVITY, LEAD_ROUTING, LEAD_SLA)

_topic_by_event_type = {event.event_type: topic.name for topic in TOPICS for event in topic.events}


def topic_for(event: CloudEvent) -> str:
    """The topic an event is published to."""
    return _topic_by_event_type[event.type]


def dead_letter_topic(consumer_group: str) -> str:
    """Where a consumer group parks the messages it could not process."""
    return f"deadletter.{consumer_group}"


CONSUMER_GROUPS = ("intake", "router", "sla-monitor")


def topic_layout(partitions: int) -> dict[str, int]:
    """Every topic the system uses, dead-letter topics included, with its partition count."""
    names = [topic.name for topic in TOPICS] + [dead_letter_topic(g) for g in CONSUMER_GROUPS]
    return dict.fromkeys(names, partitions)
