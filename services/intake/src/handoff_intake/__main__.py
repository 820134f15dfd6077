"""Run intake: `python -m handoff_intake` (INTAKE_WORKERS > 1 runs several uvicorn processes)."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from handoff_intake.entrypoints.http import create_app
from handoff_intake.settings import IntakeSettings
from handoff_shared.logging import configure_logging
from handoff_shared.metrics import serve_from_workers


def app() -> FastAPI:
    """The app as each worker process builds it, settings read from the environment."""
    settings = IntakeSettings()
    configure_logging("intake", settings.log_level, settings.log_json)
    return create_app(settings)


def main() -> None:
    settings = IntakeSettings()
    configure_logging("intake", settings.log_level, settings.log_json)
    if settings.workers > 1:
        serve_from_workers()
    uvicorn.run(
        "handoff_intake.__main__:app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_config=None,
        access_log=False,
    )


if __name__ == "__main__":
    main()
