"""Lead rules with no I/O: preparing what a source sent and merging a returning person."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from handoff_intake.domain.normalise import (
    UTM_PARAMETERS,
    InvalidEmail,
    normalise_email,
    normalise_phone,
    parse_employee_count,
    storable,
)
from handoff_shared.contact import country_code
from handoff_shared.events import LeadSnapshot

TEXT_FIELDS = (
    "first_name",
    "last_name",
    "company",
    "job_title",
    "industry",
    "form_type",
    "lead_source",
    "campaign",
)
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
MAX_TEXT = 500
MAX_ATTRIBUTES = 100
MAX_ATTRIBUTE_NAME = 64
MAX_ATTRIBUTE_VALUE = 2000
MAX_EXTERNAL_ID = 200


@dataclass(frozen=True)
class SourceDefaults:
    """What a source fills in when the person did not: phone region, campaign, lead source."""

    region: str | None = None
    campaign: str | None = None
    lead_source: str | None = None


@dataclass(frozen=True)
class FieldProblem:
    """One thing wrong with a submitted lead, and where."""

    loc: tuple[str | int, ...]
    msg: str


class InvalidLead(ValueError):
    """A lead that cannot be stored as sent; `problems` say what is wrong where."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, p.loc))}: {p.msg}" for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class Submission:
    """A lead ready to store: email normalised, fields cleaned, provenance attached."""

    email: str
    fields: dict[str, Any]
    attributes: dict[str, str]
    external_id: str | None = None
    source_id: str | None = None


@dataclass(frozen=True)
class Changes:
    """Cleaned lead fields and attributes, as a submission or a CRM correction brings them."""

    fields: dict[str, Any]
    attributes: dict[str, str]


def prepare_submission(
    email: str | None,
    fields: Mapping[str, Any],
    attributes: Mapping[str, Any],
    *,
    defaults: SourceDefaults = SourceDefaults(),
    external_id: str | None = None,
    source_id: str | None = None,
    strict: bool = False,
) -> Submission:
    """Normalise a lead; raises InvalidLead for a bad email, and in strict mode for bad fields."""
    if email is None or not email.strip():
        raise InvalidLead([FieldProblem(("email",), "a lead needs an email address")])
    try:
        normalised = normalise_email(email)
    except InvalidEmail as error:
        raise InvalidLead([FieldProblem(("email",), str(error))]) from None
    changes = clean_changes(fields, attributes, region=defaults.region, strict=strict)
    cleaned, kept_attributes = changes.fields, changes.attributes
    cleaned["campaign"] = (
        cleaned.get("campaign") or kept_attributes.get("utm_campaign") or defaults.campaign
    )
    cleaned["lead_source"] = cleaned.get("lead_source") or defaults.lead_source
    cleaned["company_domain"] = normalised.company_domain
    kept_attributes["email_kind"] = normalised.kind
    return Submission(
        email=normalised.address,
        fields={name: value for name, value in cleaned.items() if value is not None},
        attributes=kept_attributes,
        external_id=(_text(external_id) or "")[:MAX_EXTERNAL_ID] or None,
        source_id=source_id,
    )


def clean_changes(
    fields: Mapping[str, Any],
    attributes: Mapping[str, Any],
    *,
    region: str | None,
    strict: bool,
) -> Changes:
    """Trimmed text, E.164 phone, ISO country, a head count, UTM parameters as attributes.

    Lenient mode keeps a value it cannot normalise as a `*_raw` attribute: a form tool cannot
    correct its data, and dropping the lead over a mistyped phone number would lose it. Strict
    mode (the CRM's REST calls) refuses it instead.
    """
    kept_attributes = _clean_attributes(attributes)
    cleaned: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        text = _text(fields.get(name))
        if text is not None:
            cleaned[name] = text[:MAX_TEXT]

    unusable: dict[str, str] = {}
    if (country := _text(fields.get("country"))) is not None:
        cleaned["country"] = country_code(country)
        if cleaned["country"] is None:
            unusable["country"] = country
    if (phone := _text(fields.get("phone"))) is not None:
        # A local number is most likely in the person's own country, else the source's region.
        cleaned["phone"] = normalise_phone(phone, cleaned.get("country") or region)
        if cleaned["phone"] is None:
            unusable["phone"] = phone
    raw_count = fields.get("employee_count")
    if raw_count is not None and raw_count != "":
        cleaned["employee_count"] = parse_employee_count(raw_count)
        if cleaned["employee_count"] is None:
            unusable["employee_count"] = str(raw_count)
    if strict and unusable:
        raise InvalidLead(
            [
                FieldProblem((name,), f"not a valid {name.replace('_', ' ')}: {value!r}")
                for name, value in unusable.items()
            ]
        )
    for name, value in unusable.items():
        kept_attributes[f"{name}_raw"] = value[:MAX_ATTRIBUTE_VALUE]
    for name, value in fields.items():
        if name.lower() in UTM_PARAMETERS and (text := _text(value)) is not None:
            kept_attributes[name.lower()] = text[:MAX_ATTRIBUTE_VALUE]
    return Changes(
        {name: value for name, value in cleaned.items() if value is not None}, kept_attributes
    )


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    text = " ".join(storable(str(value)).split())
    return text or None


def _clean_attributes(attributes: Mapping[str, Any]) -> dict[str, str]:
    cleaned: dict[str, str] = {}
    for name, value in attributes.items():
        text = _text(value)
        if text is None or len(cleaned) >= MAX_ATTRIBUTES:
            continue
        key = storable(str(name))[:MAX_ATTRIBUTE_NAME]
        cleaned[key.lower() if key.lower() in UTM_PARAMETERS else key] = text[:MAX_ATTRIBUTE_VALUE]
    return cleaned


def new_lead(submission: Submission, lead_id: uuid.UUID, received_at: datetime) -> LeadSnapshot:
    """The first snapshot of a lead."""
    return LeadSnapshot(
        lead_id=lead_id,
        email=submission.email,
        received_at=received_at,
        attributes=submission.attributes,
        **submission.fields,
    )


def merge(existing: LeadSnapshot, incoming: Submission | Changes) -> tuple[LeadSnapshot, list[str]]:
    """The existing lead updated with the incoming non-empty fields, and what changed."""
    changes: dict[str, Any] = {
        name: value
        for name in MERGEABLE_FIELDS
        if (value := incoming.fields.get(name)) is not None and value != getattr(existing, name)
    }
    attributes = {**existing.attributes, **incoming.attributes}
    changed = sorted(changes)
    if attributes != existing.attributes:
        changed.append("attributes")
    return existing.model_copy(update={**changes, "attributes": attributes}), changed
