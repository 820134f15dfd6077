from handoff_shared.migrations import run_env
from handoff_sla.adapters.tables import metadata

run_env(metadata)
