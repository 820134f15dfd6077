"""Handoff SLA monitor: follow-up timers, escalation and recycling."""
