from collections import Counter

from handoff_router.domain.assignment import Rep, round_robin

REPS = [Rep(f"rep-{n}", f"Rep {n}", "Boss", "East") for n in range(4)]


def test_round_robin_visits_every_rep_in_turn() -> None:
    cursor, picked = 0, []
    for _ in range(8):
        pick = round_robin(REPS, cursor)
        assert pick is not None
        picked.append(pick.rep.rep_id)
        cursor = pick.next_cursor
    assert Counter(picked) == {rep.rep_id: 2 for rep in REPS}
    assert picked[:4] == ["rep-0", "rep-1", "rep-2", "rep-3"]


def test_round_robin_skips_inactive_and_excluded_reps() -> None:
    reps = [*REPS[:3], Rep("rep-3", "Rep 3", "Boss", "East", active=False)]
    pick = round_robin(reps, 2, excluded=frozenset({"rep-2"}))
    assert pick is not None
    assert pick.rep.rep_id == "rep-0"
    assert pick.candidates == ["rep-0", "rep-1"]


def test_no_eligible_rep_means_no_pick() -> None:
    assert round_robin(REPS, 0, excluded=frozenset(rep.rep_id for rep in REPS)) is None
    assert round_robin([], 0) is None
