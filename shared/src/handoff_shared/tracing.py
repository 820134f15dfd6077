"""W3C trace context carried from the HTTP request through every Kafka hop (`traceparent`)."""

from __future__ import annotations

import secrets
from contextvars import ContextVar

current_traceparent: ContextVar[str | None] = ContextVar("current_traceparent", default=None)


def new_traceparent() -> str:
    """A fresh sampled trace: version 00, random trace and span ids."""
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


def child_traceparent(parent: str | None) -> str:
    """The same trace with a new span id; a new trace if the parent is missing or malformed."""
    parts = parent.split("-") if parent else []
    if len(parts) != 4 or len(parts[1]) != 32:
        return new_traceparent()
    return f"{parts[0]}-{parts[1]}-{secrets.token_hex(8)}-{parts[3]}"
