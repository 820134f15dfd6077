"""Run the SLA monitor: `python -m handoff_sla`."""

from __future__ import annotations

import asyncio

import structlog
from aiokafka.errors import KafkaError

from handoff_shared.logging import configure_logging
from handoff_shared.metrics import serve_on_port
from handoff_shared.runtime import run_until_stopped
from handoff_sla.adapters import tables
from handoff_sla.adapters.published import forget_already_published
from handoff_sla.bootstrap import bootstrap, migrate
from handoff_sla.settings import SlaSettings

log = structlog.get_logger(__name__)


async def serve(settings: SlaSettings) -> None:
    await asyncio.to_thread(migrate, settings)
    monitor = bootstrap(settings)
    if settings.metrics_port is not None:
        serve_on_port(settings.metrics_port)
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
                "inbox-pruning": monitor.messaging.prune_inbox_forever(),
                "outbox-backlog": monitor.messaging.report_backlog_forever(),
                "overdue-timers": monitor.report_overdue_forever(),
            }
        )
    finally:
        await monitor.close()


def main() -> None:
    settings = SlaSettings()
    configure_logging("sla-monitor", settings.log_level, settings.log_json)
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
