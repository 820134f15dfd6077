"""Handoff intake: the HTTP edge that verifies, validates, stores and publishes leads."""
