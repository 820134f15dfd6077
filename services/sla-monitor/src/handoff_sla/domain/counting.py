"""How one obligation counts time: the policy's clock with the rep's zone, week and holidays."""

from __future__ import annotations

from collections.abc import Callable, Container
from dataclasses import dataclass
from datetime import date, time
from zoneinfo import ZoneInfo

from handoff_sla.domain.business_hours import BusinessHours, CalendarHours, Timekeeping
from handoff_sla.domain.policies import ClockKind

HolidayLookup = Callable[[str], Container[date]]


@dataclass(frozen=True)
class CountingRule:
    """Everything needed to count an obligation's time again later; stored with it."""

    clock: ClockKind
    time_zone: str
    country: str | None
    working_days: frozenset[int]
    opens: time
    closes: time

    def timekeeping(self, holidays_for: HolidayLookup) -> Timekeeping:
        """The arithmetic for this rule; `holidays_for` maps a country code to its holidays."""
        if self.clock == "calendar":
            return CalendarHours()
        return BusinessHours(
            time_zone=ZoneInfo(self.time_zone),
            working_days=self.working_days,
            opens=self.opens,
            closes=self.closes,
            holidays=holidays_for(self.country) if self.country else frozenset(),
        )
