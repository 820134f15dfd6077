"""Run the router: `python -m handoff_router` (consumer, relay, notifications and the API)."""

from __future__ import annotations

import asyncio

import uvicorn

from handoff_router.bootstrap import bootstrap, migrate
from handoff_router.entrypoints.http import create_app
from handoff_router.settings import RouterSettings
from handoff_shared.logging import configure_logging
from handoff_shared.runtime import run_until_stopped


async def serve(settings: RouterSettings) -> None:
    await asyncio.to_thread(migrate, settings)
    router = await bootstrap(settings)
    api = uvicorn.Server(
        uvicorn.Config(
            create_app(router),
            host=settings.host,
            port=settings.port,
            log_config=None,
            access_log=False,
        )
    )
    try:
        await run_until_stopped(
            {
                "outbox-relay": router.relay.run(),
                "consumer": router.consumer.run(),
                "notifications": router.dispatcher.run(),
                "queue-retry": router.retry_queue_forever(),
                "inbox-pruning": router.messaging.prune_inbox_forever(),
                "outbox-backlog": router.messaging.report_backlog_forever(),
                "api": api.serve(),
            }
        )
    finally:
        await router.close()


def main() -> None:
    settings = RouterSettings()
    configure_logging("router", settings.log_level, settings.log_json)
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
