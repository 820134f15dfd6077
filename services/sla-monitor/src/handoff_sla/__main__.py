"""Run the SLA monitor: `python -m handoff_sla`."""

from __future__ import annotations

import asyncio
import gc

import structlog
from aiokafka.errors import KafkaError

from handoff_shared.logging import configure_logging
from handoff_shared.runtime import run_until_stopped
from handoff_sla.adapters import tables
from handoff_sla.adapters.published import forget_already_published
from handoff_sla.bootstrap import bootstrap, migrate
from handoff_sla.settings import SlaSettings

# Allocations between young collections (CPython's default is 700).
GC_YOUNG_THRESHOLD = 20_000
log = structlog.get_logger(__name__)


async def serve(settings: SlaSettings) -> None:
    await asyncio.to_thread(migrate, settings)
    monitor = bootstrap(settings)
    tune_garbage_collector()
    try:
        try:
            await forget_already_published(
                monitor.sessions,
                tables.outbox,
                settings.kafka_bootstrap_servers,
                tail=settings.outbox_batch_size,
            )
        except (KafkaError, OSError, TimeoutError) as error:
            # Kafka not there yet: the relay will wait for it; consumers dedupe by event id.
            log.warning("outbox_reconcile_skipped", error=repr(error))
        await run_until_stopped(
            {
                "outbox-relay": monitor.relay.run(),
                "consumer": monitor.consumer.run(),
                "sweeper": monitor.sweep_forever(),
                "notifications": monitor.dispatcher.run(),
            }
        )
    finally:
        await monitor.close()


def tune_garbage_collector() -> None:
    """Keep the cyclic collector off the hot path of a timer burst.

    A sweep batch allocates tens of thousands of short-lived objects (rows, events, parameters),
    so the default young-generation threshold ran a collection every few hundred timers, and each
    older collection rescanned every module, table and model loaded at start-up. Freezing that
    start-up heap and collecting less often keeps reference-counted memory flat at a fraction
    of the cost.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def main() -> None:
    settings = SlaSettings()
    configure_logging("sla-monitor", settings.log_level, settings.log_json)
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
