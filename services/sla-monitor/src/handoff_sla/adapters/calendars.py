"""Holiday calendars from the `holidays` package and policy books from YAML files."""

from __future__ import annotations

from collections.abc import Container
from datetime import date
from functools import lru_cache
from pathlib import Path

import holidays
import yaml

from handoff_sla.domain.policies import PolicyBook, parse_policy_book

DEFAULT_POLICY_FILE = Path(__file__).parent.parent / "data" / "sla_policies.yaml"


class UnknownHolidayCalendar(ValueError):
    """No holiday calendar for this country (or subdivision) code."""


@lru_cache(maxsize=256)
def holidays_for(code: str) -> Container[date]:
    """National (and, for `US-CA` style codes, regional) public holidays, any year."""
    country, _, subdivision = code.upper().partition("-")
    try:
        return holidays.country_holidays(country, subdiv=subdivision or None)
    except NotImplementedError as error:
        raise UnknownHolidayCalendar(code) from error


def has_holiday_calendar(code: str) -> bool:
    try:
        holidays_for(code)
    except UnknownHolidayCalendar:
        return False
    return True


def load_policy_book(path: Path | None) -> PolicyBook:
    """The policy book in `path`, or the one shipped with the service."""
    with (path or DEFAULT_POLICY_FILE).open() as stream:
        return parse_policy_book(yaml.safe_load(stream))
