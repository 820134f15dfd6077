"""Ladder steps told to people: each warning, escalation and recycle becomes a notification on
every configured channel, queued in the transaction that fired the step."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from handoff_shared.events import CloudEvent, LeadRecycled, SlaEscalated, SlaStepData, SlaWarned
from handoff_shared.notify import Channel, Message, Notifier


class Announcer:
    """Queues one notification per ladder step and channel (idempotent on the event id)."""

    def __init__(self, notifier: Notifier, channels: Sequence[Channel]) -> None:
        self._notifier = notifier
        self._channels = tuple(channels)

    async def announce(self, session: AsyncSession, event: CloudEvent) -> None:
        if not self._channels:
            return  # nobody listens; building the message would be wasted work per step
        message = ladder_message(event)
        if message is None:
            return
        for channel in self._channels:
            await self._notifier.enqueue(
                session, notification_id=event.id, channel=channel, message=message
            )


def ladder_message(event: CloudEvent) -> Message | None:
    """What people are told about a ladder step; None for events that are not one."""
    if not isinstance(event, SlaWarned | SlaEscalated | LeadRecycled):
        return None
    step: SlaStepData = event.data
    milestone = step.milestone.replace("_", " ")
    due = step.due_at.strftime("%Y-%m-%d %H:%M UTC")
    match event:
        case SlaWarned():
            title = f"SLA warning: {milestone} for lead {step.lead_id} is due soon"
            text = f"{step.rep_id}, please follow up before {due}."
        case SlaEscalated():
            title = f"SLA missed: {milestone} for lead {step.lead_id}"
            text = (
                f"{step.rep_id} did not reach {milestone} by {due}; "
                f"escalated to {step.manager or 'the team lead'}."
            )
        case _:
            title = f"Lead {step.lead_id} recycled"
            text = (
                f"{step.rep_id} missed the last window for {milestone} ({due}); "
                f"the lead goes to {step.recycle_to or 'nurture'}."
            )
    return Message(
        event_type=event.type,
        title=title,
        text=text,
        fields={
            "Lead": str(step.lead_id),
            "Rep": step.rep_id,
            "Manager": step.manager or "-",
            "Policy": step.policy,
            "Due": due,
        },
        payload=event.model_dump(mode="json"),
    )
