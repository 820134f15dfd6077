"""Injected time: domain code asks a clock, never the system, so days can pass in milliseconds."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol


class Clock(Protocol):
    """Anything that tells the current time as an aware UTC datetime."""

    def now(self) -> datetime: ...


class SystemClock:
    """The wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to; for unit tests."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta

    def set(self, moment: datetime) -> None:
        self._now = moment.astimezone(UTC)


class OffsetFileClock:
    """The wall clock plus an offset in seconds read from a file.

    Lets a test or an operator move time forward in a running service (an SLA scenario over days
    in a few seconds) without a control API. A missing or empty file means no offset.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._seen_mtime_ns: int | None = None
        self._offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._current_offset()

    def _current_offset(self) -> timedelta:
        try:
            mtime_ns = os.stat(self._path).st_mtime_ns
        except FileNotFoundError:
            return timedelta(0)
        if mtime_ns != self._seen_mtime_ns:
            text = self._path.read_text().strip()
            self._offset = timedelta(seconds=float(text)) if text else timedelta(0)
            self._seen_mtime_ns = mtime_ns
        return self._offset


def write_clock_offset(path: Path, offset: timedelta) -> None:
    """Move every OffsetFileClock reading `path` to wall time + `offset` (atomic replace)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(f"{offset.total_seconds()}\n")
    tmp.replace(path)


def clock_from_settings(clock_file: Path | None) -> Clock:
    """The clock a service runs with: the wall clock, or one offset by a control file."""
    return OffsetFileClock(clock_file) if clock_file else SystemClock()
