"""Router settings (environment variables prefixed ROUTER_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from handoff_shared.notify import Channel
from handoff_shared.settings import ServiceSettings

DATA = Path(__file__).parent / "data"
DEVELOPMENT_API_KEY = "dev-router-key-change-me"


class RouterSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ROUTER_", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./.run/router.db"
    policy_file: Path = Field(
        default=DATA / "default_policy.yaml",
        description="Stored and activated at start-up if its version is new to the database",
    )
    roster_file: Path = Field(
        default=DATA / "default_roster.yaml",
        description="Teams, routing rules and reps loaded when the database has none of them",
    )
    consumer_group: str = "router"
    host: str = "127.0.0.1"
    port: int = 8001
    api_keys: list[str] = Field(
        default=[DEVELOPMENT_API_KEY], description="Accepted X-API-Key values"
    )
    config_refresh_seconds: float = Field(
        default=1.0, ge=0, description="How soon an API change reaches every router instance"
    )
    queue_retry_seconds: float = Field(
        default=30.0, gt=0, description="How often parked leads are offered to reps again"
    )
    notify_channels: list[Channel] = Field(
        default_factory=list, description="Told of every assignment (CRM owner update, team chat)"
    )
    nurture_channels: list[Channel] = Field(
        default_factory=list, description="Told of every lead sent to nurture (marketing)"
    )
    alert_channels: list[Channel] = Field(
        default_factory=list, description="Told when a sales-ready lead finds no eligible rep"
    )

    @model_validator(mode="after")
    def _no_placeholder_key_outside_development(self) -> RouterSettings:
        if self.environment != "development" and DEVELOPMENT_API_KEY in self.api_keys:
            raise ValueError("ROUTER_API_KEYS still holds the development placeholder key")
        return self
