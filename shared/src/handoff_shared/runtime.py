"""Running a service's long-lived tasks until SIGINT/SIGTERM, then stopping them in order."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Coroutine
from typing import Any

import structlog

log = structlog.get_logger(__name__)


async def run_until_stopped(tasks: dict[str, Coroutine[Any, Any, None]]) -> None:
    """Run the named tasks; stop all on a signal or as soon as one of them fails."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    running: dict[asyncio.Task[Any], str] = {
        asyncio.create_task(coro, name=name): name for name, coro in tasks.items()
    }
    stopper: asyncio.Task[Any] = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([*running, stopper], return_when=asyncio.FIRST_COMPLETED)
    for task in running:
        task.cancel()
    await asyncio.gather(*running, return_exceptions=True)
    stopper.cancel()
    for task in done - {stopper}:
        error = None if task.cancelled() else task.exception()
        if error is not None:
            log.error("task_failed", task=running[task], error=repr(error))
            raise error
    log.info("stopped")
