"""Run intake: `python -m handoff_intake`."""

from __future__ import annotations

import uvicorn

from handoff_intake.entrypoints.http import create_app
from handoff_intake.settings import IntakeSettings
from handoff_shared.logging import configure_logging


def main() -> None:
    settings = IntakeSettings()
    configure_logging("intake", settings.log_level, settings.log_json)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
    )


if __name__ == "__main__":
    main()
