"""Group commit for webhook deliveries: all waiting when a transaction starts share it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handoff_intake.domain.leads import Submission
from handoff_intake.handlers import (
    AlreadyDelivered,
    Delivery,
    IntakeHandlers,
    ReceiveResult,
    StoredAnswer,
)

log = structlog.get_logger(__name__)

Respond = Callable[[list[ReceiveResult]], StoredAnswer]


@dataclass
class _Pending:
    delivery: Delivery
    submissions: list[Submission]
    respond: Respond
    answer: asyncio.Future[tuple[StoredAnswer, bool]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class DeliveryWriter:
    """Stores deliveries with their leads, many per transaction, each answered once committed.

    A commit costs a disk flush and each statement a round trip; sharing both among every
    delivery that arrived meanwhile is what lets one process take thousands of leads a second.
    A delivery stored before (a replay) gets its first answer, and the rest of its batch is
    written without it.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        handlers: IntakeHandlers,
        *,
        max_batch: int,
        concurrency: int,
    ) -> None:
        self._sessions = sessions
        self._handlers = handlers
        self._max_batch = max_batch
        self._concurrency = concurrency
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()

    async def store(
        self, delivery: Delivery, submissions: list[Submission], respond: Respond
    ) -> tuple[StoredAnswer, bool]:
        """The delivery's answer once committed, and whether it is a replay of a stored one."""
        pending = _Pending(delivery, submissions, respond)
        self._queue.put_nowait(pending)
        # A caller that goes away does not undo the write; its batch still commits.
        return await asyncio.shield(pending.answer)

    async def run(self) -> None:
        """Write until cancelled, `concurrency` transactions at a time."""
        await asyncio.gather(*(self._write_forever() for _ in range(self._concurrency)))

    async def _write_forever(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._write(batch)
            except Exception as error:
                log.exception("delivery_write_failed", deliveries=len(batch))
                for pending in batch:
                    if not pending.answer.done():
                        pending.answer.set_exception(error)

    async def _write(self, batch: list[_Pending]) -> None:
        first_of: dict[tuple[str, str], _Pending] = {}
        repeats: list[tuple[_Pending, _Pending]] = []
        for pending in batch:
            if pending.delivery.key in first_of:
                repeats.append((pending, first_of[pending.delivery.key]))
            else:
                first_of[pending.delivery.key] = pending
        remaining = list(first_of.values())
        while remaining:
            try:
                await self._commit(remaining)
                remaining = []
            except AlreadyDelivered as conflict:
                await self._replay([p for p in remaining if p.delivery.key in conflict.keys])
                remaining = [p for p in remaining if p.delivery.key not in conflict.keys]
            except Exception as error:
                # Each waiting request answers for itself (503 for a database outage).
                for pending in remaining:
                    pending.answer.set_exception(error)
                remaining = []
        for repeat, first in repeats:
            failure = first.answer.exception()
            if failure is not None:
                repeat.answer.set_exception(failure)
            else:
                repeat.answer.set_result((first.answer.result()[0], True))

    async def _commit(self, batch: list[_Pending]) -> None:
        async with self._sessions.begin() as session:
            results = await self._handlers.receive_leads(
                session, [submission for pending in batch for submission in pending.submissions]
            )
            stored = []
            start = 0
            for pending in batch:
                own = results[start : start + len(pending.submissions)]
                start += len(pending.submissions)
                stored.append(
                    (pending.delivery, pending.respond(own), [str(item.lead_id) for item in own])
                )
            await self._handlers.record_deliveries(session, stored)
        for pending, (_, answer, _) in zip(batch, stored, strict=True):
            pending.answer.set_result((answer, False))

    async def _replay(self, replays: list[_Pending]) -> None:
        async with self._sessions() as session:
            for pending in replays:
                answer = await self._handlers.stored_answer(session, *pending.delivery.key)
                if answer is None:
                    pending.answer.set_exception(
                        RuntimeError(f"delivery {pending.delivery.key} conflicted but is absent")
                    )
                else:
                    pending.answer.set_result((answer, True))
