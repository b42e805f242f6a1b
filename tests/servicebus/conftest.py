"""One broker per test module: opening an SDK link costs about a second, starting a broker
far less, so tests share a broker and keep apart by using their own queue."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devhost.servicebus import Broker
from devhost.servicebus.entities import load_entities
from tests.servicebus.helpers import ENTITIES


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    data = tmp_path_factory.mktemp("servicebus")
    with Broker(port=0, data_dir=data, entities=load_entities(ENTITIES)) as running:
        yield running
