"""Router settings (environment variables prefixed ROUTER_)."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import SettingsConfigDict

from handoff_shared.settings import ServiceSettings

DATA = Path(__file__).parent / "data"


class RouterSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ROUTER_", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./.run/router.db"
    policy_file: Path = DATA / "default_policy.yaml"
    roster_file: Path = DATA / "default_roster.yaml"
    consumer_group: str = "router"
