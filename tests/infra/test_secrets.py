"""No secrets in the templates: secret-looking parameters are @secure() and have no default
beyond empty, no default or parameters-file value looks like a credential, and no output
carries a key (list*() calls) or a secure parameter."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.infra import bicep

SECRET_NAME = re.compile(
    r"(secret|password|passwd|key|token|connectionstring|credential|sas)", re.I
)
# Names that contain such a word but hold none (object ids and names of things).
NOT_SECRET = re.compile(r"(ObjectId|PrincipalId|Name|Uri|Url|Seconds|Minutes)$")
CREDENTIAL_VALUE = re.compile(
    r"(AccountKey=|SharedAccessKey=|SharedAccessSignature|sig=|password=|"
    r"-----BEGIN|[A-Za-z0-9+/]{40,}={0,2})",
    re.I,
)
LIST_CALL = re.compile(r"\blist[A-Z]\w*\s*\(|\blist\s*\(")

FILES = [bicep.load(p) for p in bicep.bicep_files()]


def looks_secret(name: str) -> bool:
    return bool(SECRET_NAME.search(name)) and not NOT_SECRET.search(name)


def secret_params(file: bicep.BicepFile) -> list[str]:
    """Parameters whose name says secret but that are not @secure()."""
    return [n for n, p in file.params.items() if looks_secret(n) and not p.secure]


def bad_defaults(file: bicep.BicepFile) -> list[str]:
    problems = []
    for name, param in file.params.items():
        if param.default is None:
            continue
        default = bicep.text(param.default)
        if param.secure and bicep.literal(param.default) not in ("", {}):
            problems.append(f"{name}: a @secure() parameter has a default")
        if CREDENTIAL_VALUE.search(default):
            problems.append(f"{name}: default looks like a credential")
    return problems


def leaking_outputs(file: bicep.BicepFile) -> list[str]:
    secure = {n for n, p in file.params.items() if p.secure}
    problems = []
    for name, output in file.outputs.items():
        value = bicep.text(output.value)
        if LIST_CALL.search(value):
            problems.append(f"{name}: calls a list*() function")
        if any(re.search(rf"\b{s}\b", value) for s in secure):
            problems.append(f"{name}: carries a @secure() parameter")
        if looks_secret(name):
            problems.append(f"{name}: the output's name says secret")
    return problems


def test_the_secret_parameters_that_exist_are_found() -> None:
    main = next(f for f in FILES if f.path.name == "main.bicep")
    assert main.params["tenantKeyHashes"].secure


@pytest.mark.parametrize("file", FILES, ids=lambda f: f.path.name)
def test_secret_looking_parameters_are_secure(file: bicep.BicepFile) -> None:
    assert secret_params(file) == []


@pytest.mark.parametrize("file", FILES, ids=lambda f: f.path.name)
def test_no_parameter_has_a_secret_default(file: bicep.BicepFile) -> None:
    assert bad_defaults(file) == []


@pytest.mark.parametrize("file", FILES, ids=lambda f: f.path.name)
def test_no_output_carries_a_secret(file: bicep.BicepFile) -> None:
    assert leaking_outputs(file) == []


def test_no_template_reads_keys_at_all() -> None:
    # Identity everywhere: not even an app setting is built from listKeys().
    for file in FILES:
        assert not LIST_CALL.search(file.source.decode()), file.path.name


@pytest.mark.parametrize("path", bicep.param_files(), ids=lambda p: p.name)
def test_parameters_files_take_secure_values_from_outside(path: Path) -> None:
    main = bicep.load(bicep.INFRA / "main.bicep")
    _, assigned = bicep.assigned_params(path)
    for name, node in assigned.items():
        value = bicep.text(node)
        if main.params[name].secure:
            assert re.match(r"(readEnvironmentVariable|getSecret|az\.getSecret)\(", value), name
        assert not CREDENTIAL_VALUE.search(value), f"{path.name}: {name} looks like a credential"


@pytest.mark.parametrize(
    ("snippet", "check"),
    [
        ("param adminPassword string\n", secret_params),
        ("param storageKey string = ''\n", secret_params),
        ("@secure()\nparam apiToken string = 'abc'\n", bad_defaults),
        (
            "param conn string = 'Endpoint=sb://x/;SharedAccessKey=0123456789abcdef'\n",
            bad_defaults,
        ),
        ("output key string = st.listKeys().keys[0].value\n", leaking_outputs),
        ("@secure()\nparam pw string\noutput echo string = pw\n", leaking_outputs),
    ],
    ids=["not-secure", "not-secure-key", "secure-default", "credential", "listKeys", "echo"],
)
def test_the_checks_catch_a_secret(tmp_path: Path, snippet: str, check) -> None:
    path = tmp_path / "s.bicep"
    path.write_text(snippet)
    assert check(bicep.load(path))
