"""Handoff router: qualifies leads against a versioned policy and assigns sales-ready ones."""
