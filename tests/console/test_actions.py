"""The console has a button for every operation a replicated item may list."""

from __future__ import annotations

import re
from pathlib import Path

from domain.replication_state import Operation

ACTIONS = Path(__file__).parents[2] / "console" / "actions.js"


def test_every_operation_the_api_may_list_has_a_button_with_its_route() -> None:
    source = ACTIONS.read_text()
    block = source[source.index("const OPERATIONS = {") :]
    block = block[: block.index("\n};\n")]
    entries = dict(re.findall(r"^  (\w+): \{(.*?)^  \},", block, re.M | re.S))
    assert set(entries) == {operation.value for operation in Operation}
    for name, entry in entries.items():
        assert "label:" in entry and "route:" in entry and "path:" in entry, name
