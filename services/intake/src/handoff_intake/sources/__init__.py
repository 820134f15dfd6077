"""Source adapters: one per form tool or CRM, looked up by kind in `registry`."""
