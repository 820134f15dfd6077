"""Local Kafka and PostgreSQL servers for Handoff development and tests."""
