"""Run the SLA monitor: `python -m handoff_sla`."""

from __future__ import annotations

import asyncio

from handoff_shared.logging import configure_logging
from handoff_shared.runtime import run_until_stopped
from handoff_sla.bootstrap import bootstrap, migrate
from handoff_sla.settings import SlaSettings


async def serve(settings: SlaSettings) -> None:
    await asyncio.to_thread(migrate, settings)
    monitor = bootstrap(settings)
    try:
        await run_until_stopped(
            {
                "outbox-relay": monitor.relay.run(),
                "consumer": monitor.consumer.run(),
                "sweeper": monitor.sweep_forever(),
            }
        )
    finally:
        await monitor.publisher.stop()
        await monitor.engine.dispose()


def main() -> None:
    settings = SlaSettings()
    configure_logging("sla-monitor", settings.log_level, settings.log_json)
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
