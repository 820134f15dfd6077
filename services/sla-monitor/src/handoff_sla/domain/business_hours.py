"""Business-hours arithmetic: how much working time lies between two instants, and when a
window of working time that starts at a given instant ends.

Working days and opening hours are wall-clock times in the rep's time zone, so a daylight-saving
change moves them in UTC; holidays are whole local days off. All instants are aware datetimes.
"""

from __future__ import annotations

from collections.abc import Container, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

# A calendar with no working time for ten years is a configuration error, not an SLA.
MAX_SEARCH_DAYS = 3660
ZERO = timedelta(0)


class Timekeeping(Protocol):
    """How an SLA counts time: business hours or calendar hours."""

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The instant at which `duration` of counted time has passed since `start`."""
        ...

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Counted time between `start` and `end` (zero if `end` is not after `start`)."""
        ...


class CalendarHours:
    """Every hour counts, day and night."""

    def add(self, start: datetime, duration: timedelta) -> datetime:
        _require_aware(start)
        return start + max(duration, ZERO)

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        _require_aware(start, end)
        return max(end - start, ZERO)


@dataclass(frozen=True)
class BusinessHours:
    """Working hours on working days in one time zone, minus holidays."""

    time_zone: ZoneInfo
    working_days: frozenset[int]  # ISO weekdays, Monday = 1
    opens: time
    closes: time
    holidays: Container[date] = frozenset()

    def __post_init__(self) -> None:
        if not self.working_days or not self.working_days <= frozenset(range(1, 8)):
            raise ValueError("working days must be ISO weekdays 1..7, at least one")
        if self.opens.tzinfo is not None or self.closes.tzinfo is not None:
            raise ValueError("opening hours are local wall-clock times, without a time zone")
        if not self.opens < self.closes:
            raise ValueError("a working day must open before it closes")

    def add(self, start: datetime, duration: timedelta) -> datetime:
        _require_aware(start)
        remaining = duration
        if remaining <= ZERO:
            return start
        for opened, closed in self._periods_from(start):
            span = closed - opened
            if remaining <= span:
                return opened + remaining
            remaining -= span
        raise AssertionError("unreachable: _periods_from raises when it runs out")

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        _require_aware(start, end)
        total = ZERO
        if end <= start:
            return total
        for opened, closed in self._periods_from(start):
            if opened >= end:
                break
            total += min(closed, end) - opened
        return total

    def is_working_day(self, day: date) -> bool:
        return day.isoweekday() in self.working_days and day not in self.holidays

    def _periods_from(self, start: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Working periods in UTC, in order, clipped so that none begins before `start`."""
        start = start.astimezone(UTC)
        first_day = start.astimezone(self.time_zone).date()
        days_without_work = 0
        for offset in range(MAX_SEARCH_DAYS * 2):
            day = first_day + timedelta(days=offset)
            if self.is_working_day(day):
                opened = max(self._instant(day, self.opens), start)
                closed = self._instant(day, self.closes)
                if closed > opened:
                    days_without_work = 0
                    yield opened, closed
                    continue
            days_without_work += 1
            if days_without_work >= MAX_SEARCH_DAYS:
                break
        raise ValueError(f"no working time within {MAX_SEARCH_DAYS} days of {start.isoformat()}")

    def _instant(self, day: date, wall_time: time) -> datetime:
        # A wall time skipped by a spring-forward change maps past the gap (zoneinfo, fold=0).
        return datetime.combine(day, wall_time, tzinfo=self.time_zone).astimezone(UTC)


def _require_aware(*moments: datetime) -> None:
    if any(moment.tzinfo is None or moment.utcoffset() is None for moment in moments):
        raise ValueError("business-hours arithmetic needs aware datetimes")
