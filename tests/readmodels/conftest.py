from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.clients import reset_cache
from devhost.azurite import Azurite


@pytest.fixture
def read_models(azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Point the app's read models and replicas at the session's Azurite."""
    monkeypatch.setenv("ReadModelStorage", azurite.connection_string)
    monkeypatch.setenv("ReplicaStorage", azurite.connection_string)
    reset_cache()
    yield
    reset_cache()
