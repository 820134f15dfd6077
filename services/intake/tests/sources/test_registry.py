import pytest

from handoff_intake.sources.registry import UnknownSourceKind, adapter_for, known_kinds


def test_every_known_kind_has_an_adapter_of_that_kind() -> None:
    kinds = known_kinds()
    assert "generic" in kinds
    assert all(adapter_for(kind).kind == kind for kind in kinds)


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(UnknownSourceKind):
        adapter_for("carrier-pigeon")
