from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from handoff_shared.clock import ManualClock, OffsetFileClock, SystemClock, write_clock_offset


def test_manual_clock_moves_only_when_told() -> None:
    clock = ManualClock(datetime(2026, 3, 1, tzinfo=UTC))
    clock.advance(timedelta(hours=49))
    assert clock.now() == datetime(2026, 3, 3, 1, tzinfo=UTC)
    with pytest.raises(ValueError):
        ManualClock(datetime(2026, 3, 1))


def test_offset_file_clock_follows_the_file(tmp_path: Path) -> None:
    control = tmp_path / "clock"
    clock = OffsetFileClock(control)
    assert abs(clock.now() - SystemClock().now()) < timedelta(seconds=5)

    write_clock_offset(control, timedelta(days=3))
    assert clock.now() - SystemClock().now() > timedelta(days=3) - timedelta(seconds=5)

    write_clock_offset(control, timedelta(0))
    assert abs(clock.now() - SystemClock().now()) < timedelta(seconds=5)
