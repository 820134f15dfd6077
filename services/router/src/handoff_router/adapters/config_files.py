"""Reading the qualification policy and the rep roster from files."""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

import yaml

from handoff_router.domain.assignment import Rep
from handoff_router.domain.qualification import Policy


def load_policy(path: Path) -> Policy:
    """Parse and validate a policy file (YAML or JSON); raises pydantic.ValidationError."""
    return Policy.model_validate(yaml.safe_load(path.read_text()))


def load_roster(path: Path) -> list[Rep]:
    """Reps from YAML (`reps: [{name, manager, team}]`) or a sales_teams-style CSV.

    The CSV has the columns sales_agent, manager and regional_office (the team).
    """
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            rows: list[dict[str, Any]] = [
                {
                    "name": row["sales_agent"],
                    "manager": row["manager"],
                    "team": row["regional_office"],
                }
                for row in csv.DictReader(handle)
            ]
    else:
        rows = yaml.safe_load(path.read_text())["reps"]
    return [
        Rep(
            rep_id=row.get("id") or rep_id_for(row["name"]),
            name=row["name"],
            manager=row.get("manager"),
            team=row["team"],
            active=row.get("active", True),
        )
        for row in rows
    ]


def rep_id_for(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.casefold()).strip("-")
