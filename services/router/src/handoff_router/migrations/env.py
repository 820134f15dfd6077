from handoff_router.adapters.tables import metadata
from handoff_shared.migrations import run_env

run_env(metadata)
