from collections import Counter
from datetime import UTC, datetime, time, timedelta

from handoff_router.domain.assignment import (
    Rep,
    RoutingRule,
    Seat,
    choose_team,
    in_working_hours,
    weighted_round_robin,
)
from handoff_router.domain.qualification import Condition
from handoff_shared.events import WorkingHours

MONDAY_NOON = datetime(2026, 11, 23, 12, tzinfo=UTC)


def seats(*weights: int) -> list[Seat]:
    return [
        Seat(Rep(f"rep-{n}", f"Rep {n}", "Boss", "East", weight=w)) for n, w in enumerate(weights)
    ]


def rotate(team: list[Seat], leads: int) -> Counter[str]:
    picks: Counter[str] = Counter()
    for number in range(leads):
        pick = weighted_round_robin(team, MONDAY_NOON, f"lead-{number}")
        assert pick is not None
        picks[pick.rep.rep_id] += 1
        team = [
            Seat(s.rep, s.open_leads, pick.current_weights.get(s.rep.rep_id, s.current_weight))
            for s in team
        ]
    return picks


def test_weighted_round_robin_follows_the_weights_exactly_over_each_cycle() -> None:
    assert rotate(seats(3, 2, 1), 6) == {"rep-0": 3, "rep-1": 2, "rep-2": 1}
    assert rotate(seats(5, 3, 2), 10_000) == {"rep-0": 5000, "rep-1": 3000, "rep-2": 2000}


def test_smooth_rotation_does_not_burst_one_rep() -> None:
    team = seats(2, 1)
    order = []
    for number in range(3):
        pick = weighted_round_robin(team, MONDAY_NOON, f"lead-{number}")
        assert pick is not None
        order.append(pick.rep.rep_id)
        team = [Seat(s.rep, 0, pick.current_weights[s.rep.rep_id]) for s in team]
    assert order == ["rep-0", "rep-1", "rep-0"]


def test_ties_go_to_the_rep_who_waited_longest_not_the_first_created() -> None:
    early, late = MONDAY_NOON - timedelta(hours=2), MONDAY_NOON - timedelta(hours=1)
    team = [
        Seat(Rep("a", "A", None, "East"), last_assigned_at=late),
        Seat(Rep("b", "B", None, "East"), last_assigned_at=early),
    ]
    pick = weighted_round_robin(team, MONDAY_NOON, "lead")
    assert pick is not None and pick.rep.rep_id == "b"
    fresh = [Seat(Rep(name, name, None, "East")) for name in "abcdefgh"]
    firsts = {
        picked.rep.rep_id
        for n in range(40)
        if (picked := weighted_round_robin(fresh, MONDAY_NOON, f"lead-{n}")) is not None
    }
    assert len(firsts) > 4, "a fresh team's first lead must not always go to the same rep"


def test_ineligible_reps_are_skipped_with_the_reason() -> None:
    nine_to_five = WorkingHours(days=[0, 1, 2, 3, 4], start=time(9), end=time(17))
    team = [
        Seat(Rep("full", "Full", None, "East", capacity=2), open_leads=2),
        Seat(Rep("away", "Away", None, "East", away=True)),
        Seat(
            Rep(
                "ooo",
                "Ooo",
                None,
                "East",
                away=True,
                away_until=MONDAY_NOON + timedelta(days=1),
            )
        ),
        Seat(Rep("gone", "Gone", None, "East", active=False)),
        Seat(Rep("rejected", "Rejected", None, "East")),
        Seat(
            Rep("tokyo", "Tokyo", None, "East", time_zone="Asia/Tokyo", working_hours=nine_to_five)
        ),
        Seat(
            Rep(
                "berlin",
                "Berlin",
                None,
                "East",
                time_zone="Europe/Berlin",
                working_hours=nine_to_five,
            )
        ),
    ]
    pick = weighted_round_robin(team, MONDAY_NOON, "lead", excluded=frozenset({"rejected"}))
    assert pick is not None
    assert pick.rep.rep_id == "berlin" and pick.candidates == ["berlin"]
    assert pick.skipped == {
        "full": "at capacity (2/2 open)",
        "away": "away",
        "ooo": f"away until {(MONDAY_NOON + timedelta(days=1)).isoformat()}",
        "gone": "inactive",
        "rejected": "already had this lead",
        "tokyo": "outside working hours",
    }
    assert weighted_round_robin(team[:5], MONDAY_NOON, "lead", frozenset({"rejected"})) is None


def test_working_hours_in_the_reps_time_zone() -> None:
    rep = Rep("r", "R", None, "T", time_zone="America/New_York", working_hours=WorkingHours())
    assert in_working_hours(rep, MONDAY_NOON + timedelta(hours=2))  # 09:00 in New York
    assert not in_working_hours(rep, MONDAY_NOON + timedelta(hours=1))
    assert not in_working_hours(rep, MONDAY_NOON - timedelta(days=1, hours=-2))  # Sunday
    night = Rep("n", "N", None, "T", working_hours=WorkingHours(start=time(22), end=time(6)))
    assert in_working_hours(night, MONDAY_NOON.replace(hour=23))
    assert not in_working_hours(night, MONDAY_NOON)


def test_the_first_matching_routing_rule_chooses_the_team() -> None:
    rules = [
        RoutingRule(
            name="big", team="Enterprise", when=[Condition(field="employee_count", at_least=5000)]
        ),
        RoutingRule(
            name="product",
            team="Payments",
            when=[Condition(field="attributes.product_interest", equals="payments")],
        ),
        RoutingRule(name="rest", team="Core"),
    ]
    big = choose_team(rules, {"employee_count": 9000, "attributes.product_interest": "payments"})
    assert big is not None and big.team == "Enterprise"
    product = choose_team(rules, {"attributes.product_interest": "Payments"})
    assert product is not None and product.name == "product"
    rest = choose_team(rules, {})
    assert rest is not None and rest.team == "Core"
    assert choose_team(rules[:1], {}) is None
