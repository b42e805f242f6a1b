"""The daemon's guards on their own: which disk paths may be read, and SAS signatures kept out
of log records however they get there (a library's message, an exception's text)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from agent.daemon.paths import check_chain, check_path, parse_roots
from agent.errors import AgentError
from agent.redact import RedactingFilter, redact, redact_data

SAS = ("https://acct.blob.core.windows.net/c/d.vhd?sv=2023-11-03&sp=w&se=2026-12-02T10%3A00Z"
       "&sr=b&sig=AbC%2Bdef%2F123%3D")  # fmt: skip


@pytest.fixture
def roots(tmp_path: Path) -> list[Path]:
    (tmp_path / "vms" / "web01").mkdir(parents=True)
    (tmp_path / "vms" / "web01" / "os.vhdx").write_bytes(b"x")
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "key.vhdx").write_bytes(b"x")
    return parse_roots(str(tmp_path / "vms")) or []


def test_a_disk_under_an_allowed_folder_is_read_from_its_real_path(
    roots: list[Path], tmp_path: Path
) -> None:
    path = tmp_path / "vms" / "web01" / "os.vhdx"
    assert check_path(str(path), roots) == path.resolve()
    assert check_path(str(tmp_path / "vms" / "web01" / ".." / "web01" / "os.vhdx"), roots)


@pytest.mark.parametrize(
    "name",
    ["vms/../secrets/key.vhdx", "vms/web01/../../secrets/key.vhdx", "vms/web01/link.vhdx",
     "secrets/key.vhdx", "relative"],
)  # fmt: skip
def test_escapes_are_refused_with_the_reason(roots: list[Path], tmp_path: Path, name: str) -> None:
    (tmp_path / "vms" / "web01" / "link.vhdx").symlink_to(tmp_path / "secrets" / "key.vhdx")
    path = "os.vhdx" if name == "relative" else str(tmp_path / name)
    with pytest.raises(AgentError) as refused:
        check_path(path, roots)
    assert refused.value.code == "DiskPathNotAllowed"
    assert "Nothing was read" in refused.value.cause and "AGENT_ALLOWED_DISK_ROOTS" in (
        refused.value.recommendation
    )


def test_a_parent_outside_the_folders_refuses_the_chain(roots: list[Path], tmp_path: Path) -> None:
    inside = tmp_path / "vms" / "web01" / "os.vhdx"
    with pytest.raises(AgentError, match="outside"):
        check_chain([inside, tmp_path / "secrets" / "key.vhdx"], roots)
    check_chain([inside], roots)
    assert check_path("/anything", None) == Path("/anything")  # no setting: unrestricted


def test_roots_must_be_existing_absolute_folders(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not an existing absolute folder"):
        parse_roots(str(tmp_path / "missing"))
    with pytest.raises(ValueError):
        parse_roots("relative/folder")


def test_sas_signatures_never_reach_a_log_handler() -> None:
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    logger = logging.getLogger("test.redact")
    handler = Keep()
    handler.addFilter(RedactingFilter())
    logger.addHandler(handler)
    try:
        logger.error("request to %s failed", SAS)
        try:
            raise RuntimeError(f"connection reset: {SAS}")
        except RuntimeError:
            logger.exception("upload failed")
    finally:
        logger.removeHandler(handler)
    joined = "\n".join(records)
    assert "AbC" not in joined and "sig=REDACTED" in joined and "connection reset" in joined
    assert redact(SAS).endswith("sig=REDACTED")
    assert redact_data({"cause": [SAS]}) == {"cause": [redact(SAS)]}
