"""Business-hours arithmetic: hand-computed scenarios, then properties over many calendars."""

from collections.abc import Container
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handoff_sla.domain.business_hours import BusinessHours, CalendarHours

WEEKDAYS = frozenset({1, 2, 3, 4, 5})


def office(zone: str, days_off: Container[date] = frozenset()) -> BusinessHours:
    return BusinessHours(ZoneInfo(zone), WEEKDAYS, time(9), time(17), days_off)


def local(zone: str, year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(zone))


H = timedelta(hours=1)


def test_friday_afternoon_rolls_over_the_weekend() -> None:
    new_york = office("America/New_York")
    assigned = local("America/New_York", 2026, 11, 20, 16, 30)  # Friday
    assert new_york.add(assigned, 1 * H) == local("America/New_York", 2026, 11, 23, 9, 30)
    assert new_york.add(assigned, 4 * H) == local("America/New_York", 2026, 11, 23, 12, 30)
    assert new_york.add(assigned, 4 * H) == datetime(2026, 11, 23, 17, 30, tzinfo=UTC)


def test_assignment_outside_hours_starts_counting_at_the_next_opening() -> None:
    new_york = office("America/New_York")
    saturday_night = local("America/New_York", 2026, 11, 21, 23, 0)
    assert new_york.add(saturday_night, 1 * H) == local("America/New_York", 2026, 11, 23, 10, 0)
    assert new_york.elapsed(saturday_night, local("America/New_York", 2026, 11, 23, 9, 0)) == (
        timedelta(0)
    )


def test_a_national_holiday_does_not_count() -> None:
    us = office("America/New_York", holidays.country_holidays("US"))
    assigned = local("America/New_York", 2026, 11, 25, 15, 0)  # Wednesday before Thanksgiving
    # 2 h on Wednesday, Thanksgiving off, the other 2 h on Friday morning.
    assert us.add(assigned, 4 * H) == local("America/New_York", 2026, 11, 27, 11, 0)
    without_holidays = office("America/New_York")
    assert without_holidays.add(assigned, 4 * H) == local("America/New_York", 2026, 11, 26, 11, 0)


def test_a_regional_holiday_counts_only_where_it_is_one() -> None:
    bavaria = office("Europe/Berlin", holidays.country_holidays("DE", subdiv="BY"))
    berlin = office("Europe/Berlin", holidays.country_holidays("DE", subdiv="BE"))
    assigned = local("Europe/Berlin", 2026, 1, 5, 16, 0)  # Epiphany (6 Jan) is off in Bavaria
    assert bavaria.add(assigned, 2 * H) == local("Europe/Berlin", 2026, 1, 7, 10, 0)
    assert berlin.add(assigned, 2 * H) == local("Europe/Berlin", 2026, 1, 6, 10, 0)


def test_autumn_daylight_saving_change_over_a_weekend() -> None:
    berlin = office("Europe/Berlin")
    assigned = datetime(2026, 10, 23, 14, 0, tzinfo=UTC)  # Friday 16:00 CEST (UTC+2)
    due = berlin.add(assigned, 2 * H)
    assert due == datetime(2026, 10, 26, 9, 0, tzinfo=UTC)  # Monday 10:00 CET (UTC+1)
    assert berlin.elapsed(assigned, due) == 2 * H
    wall = due - assigned
    assert wall == 67 * H  # the night of the change is 25 hours long
    assert wall - berlin.elapsed(assigned, due) == 65 * H


def test_spring_daylight_saving_change_moves_the_opening_in_utc() -> None:
    new_york = office("America/New_York")
    assigned = datetime(2026, 3, 6, 21, 0, tzinfo=UTC)  # Friday 16:00 EST
    assert new_york.add(assigned, 2 * H) == datetime(2026, 3, 9, 14, 0, tzinfo=UTC)  # 10:00 EDT


def test_the_same_instant_in_two_zones_either_side_of_the_date_line() -> None:
    assigned = datetime(2026, 11, 24, 20, 0, tzinfo=UTC)
    auckland = office("Pacific/Auckland")  # Wednesday 25th 09:00 NZDT
    honolulu = office("Pacific/Honolulu")  # Tuesday 24th 10:00 HST
    assert auckland.add(assigned, 8 * H) == local("Pacific/Auckland", 2026, 11, 25, 17, 0)
    assert honolulu.add(assigned, 8 * H) == local("Pacific/Honolulu", 2026, 11, 25, 10, 0)
    assert honolulu.add(assigned, 8 * H) - auckland.add(assigned, 8 * H) == 16 * H


def test_a_window_spanning_weeks_and_christmas() -> None:
    uk = office("Europe/London", holidays.country_holidays("GB", subdiv="ENG"))
    assigned = local("Europe/London", 2026, 12, 21, 9, 0)  # Monday
    # 80 working hours = 10 working days: 21-24 Dec, then 25, 28 Dec are bank holidays
    # (Boxing Day falls on Saturday, substitute Monday 28th), 1 Jan off.
    assert uk.add(assigned, 80 * H) == local("Europe/London", 2027, 1, 6, 17, 0)


def test_exactly_closing_time_is_the_deadline_not_the_next_morning() -> None:
    utc = office("UTC")
    monday = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    assert utc.add(monday, 8 * H) == datetime(2026, 11, 23, 17, 0, tzinfo=UTC)
    assert utc.add(monday, 40 * H) == datetime(2026, 11, 27, 17, 0, tzinfo=UTC)


def test_calendar_hours_never_stop() -> None:
    assigned = datetime(2026, 10, 24, 12, 0, tzinfo=UTC)
    assert CalendarHours().add(assigned, 48 * H) == datetime(2026, 10, 26, 12, 0, tzinfo=UTC)
    assert CalendarHours().elapsed(assigned, assigned - H) == timedelta(0)


def test_bad_calendars_and_naive_times_are_refused() -> None:
    with pytest.raises(ValueError):
        BusinessHours(ZoneInfo("UTC"), frozenset(), time(9), time(17))
    with pytest.raises(ValueError):
        BusinessHours(ZoneInfo("UTC"), frozenset({8}), time(9), time(17))
    with pytest.raises(ValueError):
        BusinessHours(ZoneInfo("UTC"), WEEKDAYS, time(17), time(9))
    with pytest.raises(ValueError):
        office("UTC").add(datetime(2026, 1, 1, 9), H)


def test_a_calendar_with_no_working_time_at_all_is_an_error() -> None:
    every_day_off = _AllDays()
    with pytest.raises(ValueError, match="no working time"):
        office("UTC", every_day_off).add(datetime(2026, 1, 1, tzinfo=UTC), H)


class _AllDays:
    def __contains__(self, day: object) -> bool:
        return True


# Zones with daylight saving in either hemisphere, half-hour offsets and both sides of the
# date line (Kiritimati is UTC+14, Pago Pago UTC-11).
ZONES = [
    "UTC",
    "America/New_York",
    "America/St_Johns",
    "Europe/Berlin",
    "Australia/Lord_Howe",
    "Pacific/Auckland",
    "Pacific/Chatham",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
    "Asia/Kolkata",
]


@st.composite
def calendars(draw: st.DrawFn) -> BusinessHours:
    # Daylight-saving changes in these zones happen before 04:00 local time; opening hours
    # after that keep every working period a real span of time.
    # At least an hour a working day: 300 counted hours then end within the arithmetic's
    # 20-year horizon (with 15 minutes a week they would end 23 years later, and it refuses).
    opens = draw(st.integers(min_value=4 * 60, max_value=22 * 60))
    closes = draw(st.integers(min_value=opens + 60, max_value=24 * 60 - 1))
    days = draw(st.frozensets(st.integers(1, 7), min_size=1))
    holiday_dates = draw(st.frozensets(st.dates(date(2025, 12, 1), date(2031, 6, 1)), max_size=40))
    return BusinessHours(
        ZoneInfo(draw(st.sampled_from(ZONES))),
        days,
        time(opens // 60, opens % 60),
        time(closes // 60, closes % 60),
        holiday_dates,
    )


instants = st.datetimes(datetime(2026, 1, 1), datetime(2030, 12, 31), timezones=st.just(UTC))
durations = st.integers(min_value=0, max_value=300 * 3600).map(lambda s: timedelta(seconds=s))


@settings(deadline=None)
@given(calendars(), instants, durations)
def test_the_time_counted_up_to_a_deadline_is_the_window(
    hours: BusinessHours, start: datetime, window: timedelta
) -> None:
    due = hours.add(start, window)
    assert due >= start
    assert hours.elapsed(start, due) == window


@settings(deadline=None)
@given(calendars(), instants, durations)
def test_a_deadline_falls_inside_working_hours_of_a_working_day(
    hours: BusinessHours, start: datetime, window: timedelta
) -> None:
    due = hours.add(start, window)
    if window:
        wall = due.astimezone(hours.time_zone)
        assert hours.is_working_day(wall.date())
        assert hours.opens < wall.time() <= hours.closes


@settings(deadline=None)
@given(calendars(), instants, durations, durations)
def test_windows_compose(
    hours: BusinessHours, start: datetime, first: timedelta, second: timedelta
) -> None:
    assert hours.add(hours.add(start, first), second) == hours.add(start, first + second)
    assert hours.add(start, first) <= hours.add(start, first + second)


@settings(deadline=None)
@given(calendars(), instants, durations, durations)
def test_counted_time_adds_up_and_never_exceeds_the_wall_clock(
    hours: BusinessHours, start: datetime, first: timedelta, second: timedelta
) -> None:
    middle, end = start + first, start + first + second
    total = hours.elapsed(start, end)
    assert total == hours.elapsed(start, middle) + hours.elapsed(middle, end)
    assert timedelta(0) <= total <= end - start
