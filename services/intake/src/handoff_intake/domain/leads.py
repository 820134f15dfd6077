"""Lead rules with no I/O: normalising what a form sent and merging a returning person."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from handoff_shared.events import LeadSnapshot

# Fields a later submission may overwrite; identity and provenance stay as first seen.
MERGEABLE_FIELDS = (
    "first_name",
    "last_name",
    "company",
    "job_title",
    "phone",
    "country",
    "industry",
    "employee_count",
    "form_type",
    "campaign",
)


@dataclass(frozen=True)
class Submission:
    """A lead as submitted, already syntax-checked at the edge."""

    email: str
    fields: dict[str, Any]
    attributes: dict[str, str]


def normalise_email(email: str) -> str:
    return email.strip().lower()


def company_domain(email: str) -> str:
    return email.rsplit("@", 1)[1]


def new_lead(submission: Submission, lead_id: uuid.UUID, received_at: datetime) -> LeadSnapshot:
    email = normalise_email(submission.email)
    return LeadSnapshot(
        lead_id=lead_id,
        email=email,
        company_domain=company_domain(email),
        received_at=received_at,
        attributes=submission.attributes,
        **{name: value for name, value in submission.fields.items() if value is not None},
    )


def merge(existing: LeadSnapshot, submission: Submission) -> tuple[LeadSnapshot, list[str]]:
    """The existing lead updated with the submission's non-empty fields, and what changed."""
    changes: dict[str, Any] = {
        name: value
        for name in MERGEABLE_FIELDS
        if (value := submission.fields.get(name)) is not None and value != getattr(existing, name)
    }
    attributes = {**existing.attributes, **submission.attributes}
    changed = sorted(changes)
    if attributes != existing.attributes:
        changed.append("attributes")
    return existing.model_copy(update={**changes, "attributes": attributes}), changed
