"""Does fast follow-up win more? First touches grouped by how long they took, with how many of
those leads converted and were won. No I/O."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise

HOUR = 3600.0
# Upper edges, in counted hours, of the buckets before "later"; "not touched" comes last.
DEFAULT_EDGES: tuple[float, ...] = (1, 4, 24, 48)
NOT_TOUCHED = "not touched"
# Below this many leads a bucket's rates are shown but flagged: one deal moves them a lot.
FEW_LEADS = 30


@dataclass(frozen=True)
class FirstTouch:
    """One assignment's first-touch milestone and what became of the lead afterwards."""

    counted_seconds: float | None  # None: the rep never touched the lead (missed or overdue)
    converted: bool
    won: bool


@dataclass(frozen=True)
class SpeedBucket:
    label: str
    leads: int
    converted: int
    won: int

    @property
    def conversion_rate(self) -> float | None:
        return self.converted / self.leads if self.leads else None

    @property
    def win_rate(self) -> float | None:
        return self.won / self.leads if self.leads else None

    @property
    def few(self) -> bool:
        return self.leads < FEW_LEADS

    def as_dict(self) -> dict[str, object]:
        return {
            "bucket": self.label,
            "leads": self.leads,
            "converted": self.converted,
            "won": self.won,
            "conversion_rate": self.conversion_rate,
            "win_rate": self.win_rate,
            "few_leads": self.few,
        }


def bucket_labels(edges: Sequence[float]) -> list[str]:
    """`< 1 h`, `1-4 h`, ..., `48 h or more`, then `not touched`."""
    if not edges or list(edges) != sorted(set(edges)) or edges[0] <= 0:
        raise ValueError("bucket edges must be positive hours in increasing order")
    labels = [f"< {edges[0]:g} h"]
    labels += [f"{low:g}-{high:g} h" for low, high in pairwise(edges)]
    return [*labels, f"{edges[-1]:g} h or more", NOT_TOUCHED]


def speed_to_lead(
    touches: Iterable[FirstTouch], edges: Sequence[float] = DEFAULT_EDGES
) -> list[SpeedBucket]:
    """Leads, conversions and wins per bucket of counted hours to the first touch.

    Hours are counted as the SLA policy counts them (business or calendar), so a lead assigned on
    Friday evening and called on Monday morning was touched fast. This is correlation: fast reps
    may also be the better reps, and hot leads are both touched and won sooner.
    """
    labels = bucket_labels(edges)
    counts = {label: [0, 0, 0] for label in labels}
    for touch in touches:
        if touch.counted_seconds is None:
            label = NOT_TOUCHED
        else:
            hours = touch.counted_seconds / HOUR
            index = next((i for i, edge in enumerate(edges) if hours < edge), len(edges))
            label = labels[index]
        tally = counts[label]
        tally[0] += 1
        tally[1] += touch.converted
        tally[2] += touch.won
    return [SpeedBucket(label, *counts[label]) for label in labels]
