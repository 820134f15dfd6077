"""What Handoff's services share: events, Kafka plumbing, outbox, inbox, settings, clock."""
