"""Run the router: `python -m handoff_router`."""

from __future__ import annotations

import asyncio

from handoff_router.bootstrap import bootstrap, migrate
from handoff_router.settings import RouterSettings
from handoff_shared.logging import configure_logging
from handoff_shared.runtime import run_until_stopped


async def serve(settings: RouterSettings) -> None:
    await asyncio.to_thread(migrate, settings)
    router = await bootstrap(settings)
    try:
        await run_until_stopped(
            {"outbox-relay": router.relay.run(), "consumer": router.consumer.run()}
        )
    finally:
        await router.publisher.stop()
        await router.engine.dispose()


def main() -> None:
    settings = RouterSettings()
    configure_logging("router", settings.log_level, settings.log_json)
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
