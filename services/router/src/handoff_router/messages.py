"""What reps, marketing and ops are told: notification messages built from router events."""

from __future__ import annotations

from handoff_shared.events import LeadAssignedData, LeadNurturedData, LeadSnapshot, Qualification
from handoff_shared.notify import Message


def _who(lead: LeadSnapshot) -> str:
    name = " ".join(part for part in (lead.first_name, lead.last_name) if part) or lead.email
    return f"{name} ({lead.company})" if lead.company else name


def _why(qualification: Qualification) -> str:
    rules = ", ".join(f"{hit.rule} {hit.points:+d}" for hit in qualification.rules_fired)
    return f"{'; '.join(qualification.reasons)}. Rules: {rules or 'none'}"


def assignment_message(assigned: LeadAssignedData) -> Message:
    """The rep's (and the CRM's) notice of a new lead, with the qualification packet."""
    packet = assigned.qualification
    return Message(
        event_type="lead.assigned",
        title=f"New lead for {assigned.rep_name}: {_who(assigned.lead)}",
        text=f"Grade {packet.grade}, score {packet.score}. {_why(packet)}",
        fields={
            "Email": assigned.lead.email,
            "Team": assigned.team,
            "Policy": packet.policy_version,
            "Routing": assigned.routing.rule,
            "Priority": assigned.priority or "normal",
        },
        payload=assigned.model_dump(mode="json"),
    )


def nurture_message(nurtured: LeadNurturedData, lead: LeadSnapshot | None) -> Message:
    """Marketing's notice that a lead goes (back) to nurture, and why."""
    who = _who(lead) if lead else str(nurtured.lead_id)
    return Message(
        event_type="lead.nurtured",
        title=f"Lead to nurture: {who}",
        text=nurtured.reason,
        fields={"Lead": str(nurtured.lead_id)},
        payload={
            **nurtured.model_dump(mode="json"),
            "lead": lead.model_dump(mode="json") if lead else None,
        },
    )


def overflow_message(lead: LeadSnapshot, team: str | None, reason: str) -> Message:
    """Ops' alert that a sales-ready lead found nobody to take it."""
    return Message(
        event_type="lead.overflowed",
        title=f"No rep available for {_who(lead)}",
        text=f"Queued for team {team or '(no routing rule)'}: {reason}",
        fields={"Lead": str(lead.lead_id), "Team": team or "-"},
        payload={"lead": lead.model_dump(mode="json"), "team": team, "reason": reason},
    )
