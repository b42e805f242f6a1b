"""Rows against Azure Tables' limits, on real Azurite: a string property holds 32K characters
(a long text must not make the write fail: the replication loop dies with it), and a key with a
character the service forbids names no row (Azurite answers such a read with a 500)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from readmodels.tables import KeyInvalid, ModelTable

pytestmark = pytest.mark.usefixtures("read_models")


class Note(BaseModel):
    text: str


TABLE = ModelTable("LimitsTest", Note)


def test_a_model_longer_than_one_property_is_stored_and_read_back_whole() -> None:
    long = "".join(chr(0x41 + i % 26) for i in range(100_000)) + "é€"
    TABLE.upsert("p", "long", Note(text=long))
    row = TABLE.get("p", "long")
    assert row is not None and row.model.text == long
    TABLE.upsert("p", "long", Note(text="short"))  # a shorter one leaves no stale tail
    assert TABLE.get("p", "long").model.text == "short"
    assert [n.text for n in TABLE.all("p")] == ["short"]


@pytest.mark.parametrize("key", ["a/b", "a\\b", "a#b", "a?b", "a\x00b", "a\x7fb", "x" * 1025])
def test_a_key_the_service_forbids_names_no_row(key: str) -> None:
    assert TABLE.get("p", key) is None
    assert TABLE.get(key, "r") is None
    with pytest.raises(KeyInvalid):
        TABLE.upsert("p", key, Note(text="x"))
