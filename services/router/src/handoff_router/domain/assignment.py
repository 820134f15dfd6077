"""Choosing a rep: round robin over the eligible reps of a pool, state kept by the caller."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Rep:
    """A sales rep as the router sees one."""

    rep_id: str
    name: str
    manager: str | None
    team: str
    active: bool = True


@dataclass(frozen=True)
class Pick:
    rep: Rep
    next_cursor: int
    candidates: list[str]


def round_robin(
    reps: Sequence[Rep], cursor: int, excluded: frozenset[str] = frozenset()
) -> Pick | None:
    """The first eligible rep at or after `cursor` in a stable order, and where to start next.

    `cursor` counts assignments made from this pool, so the rotation survives roster changes
    without skipping or doubling anyone more than once.
    """
    ordered = sorted(reps, key=lambda rep: rep.rep_id)
    eligible = [rep for rep in ordered if rep.active and rep.rep_id not in excluded]
    if not eligible:
        return None
    for step in range(len(ordered)):
        candidate = ordered[(cursor + step) % len(ordered)]
        if candidate in eligible:
            return Pick(candidate, cursor + step + 1, [rep.rep_id for rep in eligible])
    raise AssertionError("an eligible rep is in the ordered roster")
