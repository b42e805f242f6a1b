"""Fixtures shared by every test: real Azurite, real qemu-img, nothing of ours mocked."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from azureclients.clients import reset_cache
from bench.meters import StorageMeter
from devhost.azurite import DEV_ACCOUNT, DEV_KEY, Azurite


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """One Azurite per test session on free ports, data on disk (bounded memory)."""
    with Azurite(location=tmp_path_factory.mktemp("azurite")) as running:
        yield running


@pytest.fixture
def read_models(azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Point the app's read models and replicas at the session's Azurite."""
    monkeypatch.setenv("ReadModelStorage", azurite.connection_string)
    monkeypatch.setenv("ReplicaStorage", azurite.connection_string)
    reset_cache()
    yield
    reset_cache()


@pytest.fixture(scope="session")
def qemu_img() -> str:
    """qemu-img from Debian's qemu-utils; `make setup` installs it."""
    path = shutil.which("qemu-img")
    if path is None:
        pytest.fail("qemu-img is missing. Fix: run `make setup` (apt-get install qemu-utils).")
    return path


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def storage_calls(azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> Iterator[StorageMeter]:
    """The app's read models and replicas behind the benchmark's counting proxy: every
    request the code under test sends is counted by operation, as Azure Storage logs name
    them (`calls.counts()`: "side|kind|operation" -> requests)."""
    ports = {"blob": azurite.blob_port, "queue": azurite.queue_port, "table": azurite.table_port}
    with StorageMeter("127.0.0.1", ports, DEV_ACCOUNT, DEV_KEY) as meter:
        monkeypatch.setenv("ReadModelStorage", meter.connection_string)
        monkeypatch.setenv("ReplicaStorage", meter.connection_string)
        reset_cache()
        yield meter
    reset_cache()
