from handoff_intake.entrypoints.idempotency import delivery_key


def test_a_tools_own_delivery_id_is_kept_when_storable() -> None:
    assert delivery_key("evt_123", b"{}") == "evt_123"


def test_without_a_delivery_id_the_same_body_is_the_same_delivery() -> None:
    assert delivery_key(None, b'{"a":1}') == delivery_key(None, b'{"a":1}')
    assert delivery_key(None, b'{"a":1}') != delivery_key(None, b'{"a":2}')


def test_long_or_unstorable_ids_are_hashed_stably() -> None:
    for odd in ("x" * 500, "id\x00", "id\udb5e"):
        key = delivery_key(odd, b"")
        assert key.startswith("sha256:") and key == delivery_key(odd, b"")
