"""Facts derived from a lead that policies and routing rules test: email type, seniority, region.

The free-mail and disposable domain lists are handed in, so this module stays pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from handoff_shared.contact import country_code, email_kind
from handoff_shared.events import LeadSnapshot

DERIVED_FIELDS = frozenset(
    {"email_domain", "email_type", "seniority", "department", "region", "employee_band"}
)
LEAD_FIELDS = frozenset(LeadSnapshot.model_fields) - {"lead_id", "received_at", "attributes"}
KNOWN_FIELDS = LEAD_FIELDS | DERIVED_FIELDS

# Order matters: the first level whose words appear in the title wins ("VP, former intern").
SENIORITY_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("c_level", ("chief", "ceo", "cto", "cfo", "coo", "cmo", "cro", "cio", "founder", "owner")),
    ("vp", ("vp", "vice president", "svp", "evp", "president")),
    ("director", ("director", "head of", "head")),
    ("manager", ("manager", "lead", "supervisor")),
    ("student", ("student", "intern", "trainee", "apprentice")),
)
DEPARTMENT_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("sales", ("sales", "revenue", "account executive", "business development", "sdr", "bdr")),
    ("marketing", ("marketing", "growth", "demand gen", "brand", "cmo")),
    ("operations", ("operations", "revops", "ops", "coo")),
    ("engineering", ("engineer", "developer", "cto", "technology", "it ", "software", "data")),
    ("finance", ("finance", "cfo", "accounting", "controller")),
    ("executive", ("ceo", "founder", "owner", "president", "managing director")),
    ("hr", ("hr", "human resources", "people", "talent", "recruit")),
)
EMPLOYEE_BANDS: tuple[tuple[int, str], ...] = (
    (10, "1-10"),
    (50, "11-50"),
    (200, "51-200"),
    (1000, "201-1000"),
    (5000, "1001-5000"),
)


def _codes(text: str) -> list[str]:
    return text.split()


REGIONS: dict[str, frozenset[str]] = {
    "NA": frozenset({"US", "CA"}),
    "LATAM": frozenset(_codes("MX BR AR CL CO PE UY PY BO EC VE CR PA GT HN SV NI DO CU PR JM TT")),
    "APAC": frozenset(
        _codes("AU NZ JP CN HK TW KR SG MY ID TH VN PH IN PK BD LK NP MM KH LA MN FJ PG")
    ),
}


@dataclass(frozen=True)
class EmailDomainLists:
    """Which email domains are free-mail providers and which are throwaway."""

    free: frozenset[str]
    disposable: frozenset[str]


def email_domain(email: str) -> str:
    return email.rpartition("@")[2].strip().casefold()


def email_type(email: str, lists: EmailDomainLists) -> str:
    """`disposable`, `free` or `business`."""
    return email_kind(email_domain(email), free=lists.free, disposable=lists.disposable)


def seniority(job_title: str | None) -> str | None:
    """c_level, vp, director, manager, student or individual; None without a title."""
    if not job_title:
        return None
    words = _words(job_title)
    for level, markers in SENIORITY_WORDS:
        if any(_has_phrase(words, marker) for marker in markers):
            return level
    return "individual"


def department(job_title: str | None) -> str | None:
    """The department a title belongs to, or `other`; None without a title."""
    if not job_title:
        return None
    words = _words(job_title)
    for name, markers in DEPARTMENT_WORDS:
        if any(_has_phrase(words, marker.strip()) for marker in markers):
            return name
    return "other"


def employee_band(employee_count: int | None) -> str | None:
    if employee_count is None:
        return None
    for ceiling, band in EMPLOYEE_BANDS:
        if employee_count <= ceiling:
            return band
    return "5001+"


def region(country: str | None) -> str | None:
    """NA, LATAM, APAC or EMEA for a known country; None otherwise."""
    code = country_code(country) if country else None
    if code is None:
        return None
    return next((name for name, codes in REGIONS.items() if code in codes), "EMEA")


def lead_facts(lead: LeadSnapshot, lists: EmailDomainLists) -> dict[str, Any]:
    """Every field a rule may test: the lead's own, the derived ones, and `attributes.NAME`."""
    facts: dict[str, Any] = {name: getattr(lead, name) for name in LEAD_FIELDS}
    facts.update(
        email_domain=email_domain(lead.email),
        email_type=email_type(lead.email, lists),
        seniority=seniority(lead.job_title),
        department=department(lead.job_title),
        region=region(lead.country),
        employee_band=employee_band(lead.employee_count),
    )
    facts.update({f"attributes.{name}": value for name, value in lead.attributes.items()})
    return facts


def _words(text: str) -> str:
    return " " + re.sub(r"[^a-z0-9]+", " ", text.casefold()).strip() + " "


def _has_phrase(words: str, phrase: str) -> bool:
    return f" {phrase} " in words
