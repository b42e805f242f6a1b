"""The console page as the app serves it, without a browser: one self-contained document whose
inline script and style run only with the response's nonce, policy thresholds embedded so no
value can close the script element, and scripts that build the page from data only through
the DOM (no markup from strings), so a hostile name can never become markup.

The browser tests against the real control plane are in tests/e2e/console."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from triggers.console import (
    ASSETS,
    SCRIPTS,
    policy_thresholds,
    render_page,
    security_headers,
    signed_in_mode,
)

NONCE = "n0nce-for-the-test"


def test_the_page_is_one_document_with_everything_inlined_under_its_nonce() -> None:
    page = render_page(NONCE)
    assert "{{" not in page  # every placeholder filled
    assert f'<style nonce="{NONCE}">' in page
    assert f'<script type="module" nonce="{NONCE}">' in page
    # Nothing is fetched: no src, no stylesheet link, no import of another file.
    assert not re.search(r"<script[^>]*\bsrc=|<link\b|\bimport\s*\(|^\s*import\s", page, re.M)
    for name in SCRIPTS:
        assert (ASSETS / name).read_text() in page


def test_the_policy_header_allows_only_that_nonce_and_nothing_from_elsewhere() -> None:
    headers = security_headers(NONCE)
    csp = headers["Content-Security-Policy"]
    assert f"script-src 'nonce-{NONCE}'" in csp and f"style-src 'nonce-{NONCE}'" in csp
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp
    assert "unsafe" not in csp
    assert headers["Referrer-Policy"] == "no-referrer" and headers["Cache-Control"] == "no-store"


def test_policy_thresholds_are_embedded_and_cannot_close_the_script(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hostile = "</script><script>alert(1)</script>"
    monkeypatch.setenv(
        "REPLICATION_POLICIES",
        json.dumps(
            {
                hostile: {
                    "interval": 30,
                    "rpo_threshold_seconds": 60,
                    "retention_hours": 1,
                    "app_consistent_frequency_hours": 0,
                },
                "broken": {"interval": 7},
            }
        ),
    )
    table = policy_thresholds()
    assert table[hostile] == {"intervalSeconds": 30, "retentionHours": 1, "rpoThresholdSeconds": 60}
    assert table["30s"]["rpoThresholdSeconds"] == 300
    assert "broken" not in table  # an invalid policy is left out, not guessed
    page = render_page(NONCE)
    # The policies' element, the sign-in's element and the page's script.
    assert page.count("</script>") == 3
    embedded = re.search(
        r'<script type="application/json" id="policies">(.*?)</script>', page, re.S
    )
    assert json.loads(embedded.group(1))[hostile]["rpoThresholdSeconds"] == 60


@pytest.mark.parametrize("name", SCRIPTS)
def test_no_script_turns_a_string_into_markup(name: str) -> None:
    source = (ASSETS / name).read_text()
    for sink in (
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        "setHTML",
        "createContextualFragment",
    ):
        assert sink not in source, f"{name} uses {sink}"
    assert "</script" not in source.lower()


def test_the_inlined_script_is_valid_javascript(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is missing. Fix: run `make setup` (Node.js 20 installs Azurite).")
    script = re.search(
        r'<script type="module" nonce="[^"]+">(.*)</script>', render_page(NONCE), re.S
    )
    module = tmp_path / "console.mjs"
    module.write_text(script.group(1))
    checked = subprocess.run([node, "--check", str(module)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


def test_the_sign_in_is_embedded_and_cannot_close_the_script() -> None:
    hostile = "</script><script>alert(1)</script>@contoso"
    page = render_page(NONCE, {"operator": hostile, "tenant": "contoso"})
    assert page.count("</script>") == 3
    embedded = re.search(r'<script type="application/json" id="sign-in">(.*?)</script>', page, re.S)
    assert json.loads(embedded.group(1)) == {"operator": hostile, "tenant": "contoso"}
    # Key mode: the page is told nothing.
    key_mode = re.search(
        r'<script type="application/json" id="sign-in">(.*?)</script>', render_page(NONCE), re.S
    )
    assert json.loads(key_mode.group(1)) is None


def test_a_signed_in_operator_gets_the_one_tenant_or_must_name_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AGENT_SITES", json.dumps({"contoso": ["contoso-hq"]}))
    assert signed_in_mode("ops", None) == (200, {"operator": "ops", "tenant": "contoso"})
    assert signed_in_mode("ops", "contoso")[1]["tenant"] == "contoso"
    status, refused = signed_in_mode("ops", "fabrikam")
    assert (status, refused["tenant"], refused["problem"]["code"]) == (
        400,
        None,
        "TenantNotAdmitted",
    )
    monkeypatch.setenv("AGENT_SITES", json.dumps({"contoso": ["a"], "fabrikam": ["b"]}))
    status, several = signed_in_mode("ops", None)
    assert status == 400 and "several tenants" in several["problem"]["cause"]
    assert "?tenant=" in several["problem"]["recommendation"]
    assert signed_in_mode("ops", "fabrikam") == (200, {"operator": "ops", "tenant": "fabrikam"})
