"""Load guards on the webhook path: per-source rate limits and the outbox backlog bound."""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from functools import lru_cache

import limits
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from handoff_shared.runtime import repeat_forever


@lru_cache(maxsize=256)
def _parsed(rate: str) -> limits.RateLimitItem:
    return limits.parse(rate)


class SourceRateLimiter:
    """Each source's rate limit, counted in this process (one limiter per replica)."""

    def __init__(self, default_rate: str) -> None:
        self._default = _parsed(default_rate)
        self._limiter = SlidingWindowCounterRateLimiter(MemoryStorage())

    async def retry_after(self, source_id: str, rate: str | None) -> int | None:
        """None when the request may pass, else the seconds to wait before retrying."""
        item = _parsed(rate) if rate else self._default
        if await self._limiter.hit(item, source_id):
            return None
        stats = await self._limiter.get_window_stats(item, source_id)
        return max(1, math.ceil(stats.reset_time - time.time()))


class BacklogGauge:
    """The number of unpublished outbox rows, counted every few seconds rather than per request."""

    def __init__(self, count: Callable[[], Awaitable[int]], refresh_seconds: float) -> None:
        self._count = count
        self._refresh = refresh_seconds
        self.pending = 0

    async def run(self) -> None:
        """Refresh until cancelled; a failed count keeps the last value."""

        async def recount() -> None:
            self.pending = await self._count()

        await repeat_forever(recount, every_seconds=self._refresh, name="backlog-count")
