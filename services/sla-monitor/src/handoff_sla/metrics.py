"""The SLA monitor's own metrics: whether its timers fire on time. The steps it fires are
counted with every other event, as `handoff_events_published{type="lead.sla.escalated"}`."""

from __future__ import annotations

from prometheus_client import Gauge

TIMERS_OVERDUE = Gauge(
    "handoff_sla_timers_overdue",
    "Ladder steps past their due time and not fired yet; near zero while the sweep keeps up",
)
OLDEST_OVERDUE = Gauge(
    "handoff_sla_oldest_overdue_seconds",
    "How late the most overdue ladder step is (0 when none is)",
)
