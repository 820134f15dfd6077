import json
from pathlib import Path

from typer.testing import CliRunner

from handoff_router.adapters.config_files import email_domain_lists, load_policy, load_roster
from handoff_router.backtest import app, read_csv_leads
from handoff_router.domain.backtest import disagreements, run_backtest
from handoff_router.settings import RouterSettings

FIXTURES = Path(__file__).parent / "fixtures"


def test_csv_rows_become_leads_with_attributes_outcomes_and_blanks_dropped() -> None:
    leads = list(
        read_csv_leads(FIXTURES / "past_leads.csv", outcome_column="Converted", blanks=["Select"])
    )
    assert [lead.converted for lead in leads] == [True, False, True, False, False]
    first, second, third = leads[0].lead, leads[1].lead, leads[2].lead
    assert first.country == "India" and first.lead_source == "Reference"
    assert first.attributes["lead_origin"] == "Lead Add Form"
    assert first.attributes["totalvisits"] == "5"
    assert second.job_title is None and "" not in second.attributes
    assert third.job_title == "VP Sales"


def test_a_backtest_counts_mql_and_conversion_per_team() -> None:
    leads = list(read_csv_leads(FIXTURES / "past_leads.csv", outcome_column="Converted"))
    rules = load_roster(RouterSettings().roster_file).routing_rules
    visits = run_backtest(
        load_policy(FIXTURES / "visits_policy.yaml"),
        leads,
        email_lists=email_domain_lists(),
        routing_rules=rules,
    )
    assert visits.overall.as_dict() == {
        "leads": 5,
        "mql": 3,
        "mql_converted": 2,
        "non_mql": 2,
        "non_mql_converted": 0,
        "mql_conversion": 2 / 3,
        "non_mql_conversion": 0.0,
        "recall": 1.0,
    }
    assert {team: t.mql for team, t in visits.per_team.items()} == {"East": 2, "West": 1}
    assert visits.leaked_fields == []
    tags = run_backtest(
        load_policy(FIXTURES / "tag_policy.yaml"), leads, email_lists=email_domain_lists()
    )
    assert tags.leaked_fields == ["attributes.tags"]
    assert disagreements(visits, tags) == {
        "only_active_mql": 2,
        "only_candidate_mql": 0,
        "both_mql": 1,
    }


def test_the_report_command_compares_two_policies_and_flags_cheating() -> None:
    runner = CliRunner()
    arguments = [
        "--csv",
        str(FIXTURES / "past_leads.csv"),
        "--active",
        str(FIXTURES / "visits_policy.yaml"),
        "--policy",
        str(FIXTURES / "tag_policy.yaml"),
    ]
    text = runner.invoke(app, arguments)
    assert text.exit_code == 0, text.output
    assert text.output.startswith("WARNING: policy uses-tags-1 uses attributes.tags")
    assert "conversion of MQL" in text.output and "66.7%" in text.output
    as_json = runner.invoke(app, [*arguments, "--json"])
    report = json.loads(as_json.output)
    assert report["candidate"]["post_contact_fields_used"] == ["attributes.tags"]
    assert report["active"]["overall"]["mql"] == 3
    refused = runner.invoke(app, ["--policy", str(FIXTURES / "tag_policy.yaml")])
    assert refused.exit_code != 0 and "exactly one of --csv or --database-url" in refused.output
