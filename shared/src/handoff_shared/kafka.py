"""Kafka plumbing: an idempotent acks=all publisher and a consumer that commits after the work."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.partitioner import DefaultPartitioner
from pydantic import ValidationError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handoff_shared.db import flush_inserts
from handoff_shared.events import LeadEvent, decode_event
from handoff_shared.inbox import Inbox
from handoff_shared.metrics import EVENTS_CONSUMED
from handoff_shared.topics import dead_letter_topic
from handoff_shared.tracing import current_traceparent

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class OutgoingRecord:
    """One Kafka record to send."""

    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


class KafkaPublisher:
    """An idempotent producer (acks=all); every send is awaited, bounded by a timeout."""

    def __init__(self, bootstrap_servers: str, *, client_id: str, send_timeout: float) -> None:
        self._bootstrap_servers = bootstrap_servers
        self._client_id = client_id
        self._send_timeout = send_timeout
        self._producer: AIOKafkaProducer | None = None
        self._partitioner = DefaultPartitioner()

    async def _started(self) -> AIOKafkaProducer:
        # Started on first use, so a service comes up (and intake takes leads) while Kafka is down.
        if self._producer is None:
            producer = AIOKafkaProducer(
                bootstrap_servers=self._bootstrap_servers,
                client_id=self._client_id,
                acks="all",
                enable_idempotence=True,
                linger_ms=2,
                max_batch_size=256 * 1024,
                request_timeout_ms=int(self._send_timeout * 1000),
            )
            try:
                await producer.start()
            except BaseException:
                await producer.stop()
                raise
            self._producer = producer
        return self._producer

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def send_many(self, records: Sequence[OutgoingRecord]) -> None:
        """Send all records and wait until the broker has acknowledged every one.

        Records are grouped by partition (the Java client's key hash, as `send` would choose)
        and handed over as whole batches, in order within each partition: per record, `send`
        cost a future and the accumulator's bookkeeping, a sixth of a relay's time.
        """
        producer = await self._started()
        partitions: dict[str, list[int]] = {}
        by_partition: dict[tuple[str, int], list[OutgoingRecord]] = {}
        for record in records:
            if record.topic not in partitions:
                partitions[record.topic] = sorted(await producer.partitions_for(record.topic))
            choices = partitions[record.topic]
            partition = self._partitioner(record.key, choices, choices)
            by_partition.setdefault((record.topic, partition), []).append(record)
        deliveries = []
        for (topic, partition), in_order in by_partition.items():
            batch = producer.create_batch()
            for record in in_order:
                while (
                    batch.append(
                        key=record.key, value=record.value, timestamp=None, headers=record.headers
                    )
                    is None
                ):
                    if batch.record_count() == 0:
                        raise ValueError(f"a record for {topic} is larger than a whole batch")
                    deliveries.append(await producer.send_batch(batch, topic, partition=partition))
                    batch = producer.create_batch()
            deliveries.append(await producer.send_batch(batch, topic, partition=partition))
        async with asyncio.timeout(self._send_timeout):
            await asyncio.gather(*deliveries)


async def topic_partitions(bootstrap_servers: str, topic: str) -> list[TopicPartition]:
    """The partitions of `topic` (empty if it does not exist), for reading without a group."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return sorted(TopicPartition(topic, p["partition"]) for p in described["partitions"])


STOP_TIMEOUT_SECONDS = 10.0

EventHandler = Callable[[AsyncSession, LeadEvent], Awaitable[None]]
# Called once per batch before its events are handled, to read in one round trip what the
# handler would otherwise read event by event; handlers must work without it too.
BatchPreparer = Callable[[AsyncSession, Sequence[LeadEvent]], Awaitable[None]]

# Errors that say the infrastructure is unwell, not the message: retried until it recovers.
_TRANSIENT_ERRORS = (OperationalError, InterfaceError, ConnectionError, TimeoutError)


class EventConsumer:
    """Consumes lead events; their effects and inbox entries commit in the same transaction.

    A polled batch is handled in one transaction (one commit instead of one per event); if any
    event in it fails, the batch is rolled back and replayed one event per transaction, so a
    poison message is retried and dead-lettered alone. Offsets are committed only after every
    message of a batch is durable (processed, skipped as a duplicate, or dead-lettered), so a
    crash means redelivery, never loss; the inbox turns that redelivery into a no-op.
    """

    def __init__(
        self,
        *,
        bootstrap_servers: str,
        group_id: str,
        topics: Sequence[str],
        handle: EventHandler,
        sessions: async_sessionmaker[AsyncSession],
        inbox: Inbox,
        publisher: KafkaPublisher,
        max_attempts: int = 3,
        max_records: int = 2000,
        prepare: BatchPreparer | None = None,
    ) -> None:
        self._bootstrap_servers = bootstrap_servers
        self._topics = list(topics)
        self._group_id = group_id
        self._handle = handle
        self._sessions = sessions
        self._inbox = inbox
        self._publisher = publisher
        self._max_attempts = max_attempts
        self._max_records = max_records
        self._prepare = prepare
        self.processed = 0

    async def run(self) -> None:
        """Consume until cancelled, waiting for the broker if it is not there yet."""
        consumer = await self._start_consumer()
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=200, max_records=self._max_records)
                if not batches:
                    continue
                await self._process_batch([m for messages in batches.values() for m in messages])
                try:
                    await consumer.commit()
                except CommitFailedError:
                    # A rebalance took the partitions; the new owner redelivers, the inbox dedupes.
                    log.warning("offset_commit_failed_after_rebalance", group=self._group_id)
        finally:
            # Leaving a group mid-rebalance can wait out the broker's rebalance timeout
            # (minutes); uncommitted work is redelivered and deduplicated, so stop boundedly.
            try:
                async with asyncio.timeout(STOP_TIMEOUT_SECONDS):
                    await consumer.stop()
            except TimeoutError:
                log.warning("consumer_stop_timed_out", group=self._group_id)

    async def _start_consumer(self) -> AIOKafkaConsumer:
        delay = 0.5
        while True:
            consumer = AIOKafkaConsumer(
                *self._topics,
                bootstrap_servers=self._bootstrap_servers,
                group_id=self._group_id,
                client_id=self._group_id,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
            )
            try:
                await consumer.start()
                return consumer
            except KafkaError as error:
                await consumer.stop()
                log.warning(
                    "kafka_unavailable", group=self._group_id, error=repr(error), retry_in=delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def _process_batch(self, messages: list[ConsumerRecord[bytes, bytes]]) -> None:
        decoded: list[tuple[ConsumerRecord[bytes, bytes], LeadEvent]] = []
        for message in messages:
            try:
                decoded.append((message, decode_event(message.value or b"")))
            except ValidationError as error:
                await self._dead_letter(message, f"undecodable event: {error}")
        if not decoded:
            return
        outcomes: Counter[tuple[str, str]] = Counter()
        try:
            async with self._sessions() as session, session.begin():
                fresh = await self._inbox.claim_many(
                    session, [(event.id, event.type) for _, event in decoded]
                )
                if self._prepare is not None and fresh:
                    await self._prepare(session, [e for _, e in decoded if e.id in fresh])
                for message, event in decoded:
                    if event.id in fresh:
                        _enter_trace(message)
                        await self._handle(session, event)
                        fresh.discard(event.id)  # a repeat inside the batch is a duplicate
                        outcomes[message.topic, "processed"] += 1
                    else:
                        outcomes[message.topic, "duplicate"] += 1
                await flush_inserts(session)  # a batch's rows go faster from here than at commit
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.info("batch_replayed_one_by_one", size=len(decoded), error=repr(error))
            for message, event in decoded:
                await self._process(message, event)
            return
        self.processed += len(decoded)
        for (topic, outcome), count in outcomes.items():
            EVENTS_CONSUMED.labels(topic, outcome).inc(count)

    async def _process(self, message: ConsumerRecord[bytes, bytes], lead_event: LeadEvent) -> None:
        _enter_trace(message)
        failures = 0
        delay = 0.05
        while True:
            try:
                async with self._sessions() as session, session.begin():
                    outcome = "duplicate"
                    if await self._inbox.claim(session, lead_event.id, lead_event.type):
                        await self._handle(session, lead_event)
                        outcome = "processed"
                self.processed += 1
                EVENTS_CONSUMED.labels(message.topic, outcome).inc()
                return
            except asyncio.CancelledError:
                raise
            except _TRANSIENT_ERRORS as error:
                # Not the message's fault: wait for the database or broker rather than dead-letter.
                log.warning("event_retry_transient", event_id=lead_event.id, error=str(error))
            except Exception as error:
                failures += 1
                log.warning(
                    "event_failed", event_id=lead_event.id, attempt=failures, error=repr(error)
                )
                if failures >= self._max_attempts:
                    await self._dead_letter(message, repr(error))
                    return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _dead_letter(self, message: ConsumerRecord[bytes, bytes], error: str) -> None:
        log.error("event_dead_lettered", topic=message.topic, offset=message.offset, error=error)
        EVENTS_CONSUMED.labels(message.topic, "dead_lettered").inc()
        headers = [
            *(message.headers or ()),
            ("dlq.error", error[:4000].encode()),
            ("dlq.topic", message.topic.encode()),
            ("dlq.partition", str(message.partition).encode()),
            ("dlq.offset", str(message.offset).encode()),
            ("dlq.consumer", self._group_id.encode()),
        ]
        await self._publisher.send_many(
            [
                OutgoingRecord(
                    topic=dead_letter_topic(self._group_id),
                    key=message.key or b"",
                    value=message.value or b"",
                    headers=headers,
                )
            ]
        )


def _enter_trace(message: ConsumerRecord[bytes, bytes]) -> None:
    """Make the message's trace the current one, so the events it causes continue it."""
    headers = dict(message.headers or ())
    current_traceparent.set(headers["traceparent"].decode() if "traceparent" in headers else None)
