"""Normalising contact data as form tools send it: email, phone, country, company domain, UTM."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, model_validator

from handoff_shared.contact import EmailKind, email_kind

UTM_PARAMETERS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")


def storable(text: str) -> str:
    """The text without what a database cannot hold: NUL characters and unpaired surrogates."""
    return text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def unstorable_path(value: object, path: str = "") -> str | None:
    """Where in a nested value a string holds a NUL or an unpaired surrogate, if anywhere."""
    if isinstance(value, str):
        return path or "value" if storable(value) != value else None
    if isinstance(value, dict):
        children: list[tuple[str, object]] = []
        for key, child in value.items():
            if isinstance(key, str) and storable(key) != key:
                return f"{path}.{key!r}".lstrip(".")
            children.append((f"{path}.{key}".lstrip("."), child))
    elif isinstance(value, (list, tuple)):
        children = [(f"{path}.{index}".lstrip("."), child) for index, child in enumerate(value)]
    else:
        return None
    return next(
        (found for child_path, child in children if (found := unstorable_path(child, child_path))),
        None,
    )


class StorableInput(BaseModel):
    """An input model that refuses strings a database cannot store, saying where they are."""

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        where = unstorable_path(data)
        if where is not None:
            raise ValueError(f"{where}: contains a NUL character or an unpaired surrogate")
        return data


class InvalidEmail(ValueError):
    """The address is not a syntactically valid email address."""


@dataclass(frozen=True)
class NormalisedEmail:
    """An email address in the one form used for storage and deduplication."""

    address: str
    domain: str
    kind: EmailKind

    @property
    def company_domain(self) -> str | None:
        """The employer's domain, which a free-mail or throwaway address does not reveal."""
        return self.domain if self.kind == "business" else None


def normalise_email(raw: str) -> NormalisedEmail:
    """Trimmed, case-folded, domain IDNA-normalised; raises InvalidEmail saying why."""
    try:
        valid = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as error:
        raise InvalidEmail(str(error)) from None
    # Mailbox local parts are case-insensitive at every provider that matters for leads, and
    # one spelling per person is what makes deduplication by email work.
    address = valid.normalized.lower()
    return NormalisedEmail(
        address=address,
        domain=valid.domain.lower(),
        kind=email_kind((valid.ascii_domain or valid.domain).lower()),
    )


def normalise_phone(raw: str, default_region: str | None) -> str | None:
    """The number in E.164, or None when it cannot be a valid number."""
    try:
        number = phonenumbers.parse(raw, (default_region or "").upper() or None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


_NUMBER = re.compile(r"\d[\d,. ]*")


def parse_employee_count(raw: object) -> int | None:
    """A head count from `250`, `"1,000"`, `"50-200"` (the lower bound) or `"1000+"`."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw if raw >= 0 else None
    match = _NUMBER.search(str(raw))
    if match is None:
        return None
    digits = re.sub(r"[,. ]", "", match.group())
    return int(digits) if digits and len(digits) <= 9 else None
