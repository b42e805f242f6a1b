"""Every .bicep and .bicepparam in infra/ parses with the tree-sitter Bicep grammar, and the
parameters files match main.bicep (target exists, names declared, required ones given)."""

from __future__ import annotations

import re

import pytest

from tests.infra import bicep

BICEP = bicep.bicep_files()
PARAMS = bicep.param_files()


def test_the_deployment_has_an_entry_point_modules_and_two_tenants() -> None:
    names = {p.relative_to(bicep.INFRA).as_posix() for p in BICEP}
    assert "main.bicep" in names
    assert sum(n.startswith("modules/") for n in names) >= 8
    assert len(PARAMS) >= 2


@pytest.mark.parametrize("path", BICEP, ids=lambda p: p.name)
def test_bicep_file_has_no_syntax_error(path) -> None:
    assert bicep.syntax_errors(path.read_bytes()) == []


@pytest.mark.parametrize("path", PARAMS, ids=lambda p: p.name)
def test_parameters_file_has_no_syntax_error(path) -> None:
    assert bicep.syntax_errors(path.read_bytes(), param_file=True) == []


@pytest.mark.parametrize(
    "snippet",
    [
        b"resource sb 'Microsoft.ServiceBus/namespaces@2024-01-01' = {\n  name: 'x'\n",
        b"param size int = \n",
        b"var x = [\n  'a'\n  'b'\n",
        b"output url string = 'https://${site.name'\n",
        b"module m 'm.bicep' = {\n  params: { a: }\n}\n",
    ],
)
def test_checker_reports_a_broken_bicep_snippet(snippet: bytes) -> None:
    assert bicep.syntax_errors(snippet), "the checker accepted broken Bicep"


@pytest.mark.parametrize(
    "snippet",
    [
        b"using './main.bicep'\nparam sites = [\n  { name: 'a' }\n",
        b"using './main.bicep'\nparam tenantName = \n",
        b"using './main.bicep'\nparam tenantName 'contoso'\n",
    ],
)
def test_checker_reports_a_broken_parameters_snippet(snippet: bytes) -> None:
    assert bicep.syntax_errors(snippet, param_file=True)


def test_checker_accepts_a_valid_parameters_snippet() -> None:
    good = b"using './main.bicep'\nparam tenantName = 'contoso'\nparam sites = [\n  {\n    name: 'a'\n  }\n]\n"
    assert bicep.syntax_errors(good, param_file=True) == []


def test_the_rewrite_keeps_error_positions_where_they_are_in_the_file() -> None:
    source = b"using './main.bicep'\nparam a = 'x'\nparam b = [\n"
    assert len(bicep.as_bicep(source, param_file=True)) == len(source)
    # The unclosed `[` is on line 3; the report names that line of the original file.
    assert bicep.syntax_errors(source, param_file=True)[0].startswith("3:")


@pytest.mark.parametrize("path", PARAMS, ids=lambda p: p.name)
def test_parameters_file_uses_main_and_sets_only_declared_parameters(path) -> None:
    using, assigned = bicep.assigned_params(path)
    target = (path.parent / using).resolve()
    assert target == bicep.INFRA / "main.bicep", f"{path.name} uses {using}"
    declared = bicep.load(target).params
    unknown = sorted(set(assigned) - set(declared))
    assert not unknown, f"{path.name} sets parameters main.bicep does not declare: {unknown}"


@pytest.mark.parametrize("path", PARAMS, ids=lambda p: p.name)
def test_parameters_file_gives_every_required_parameter(path) -> None:
    _, assigned = bicep.assigned_params(path)
    main = bicep.load(bicep.INFRA / "main.bicep")
    required = {name for name, p in main.params.items() if p.default is None}
    missing = sorted(required - set(assigned))
    assert not missing, f"{path.name} leaves required parameters unset: {missing}"


@pytest.mark.parametrize("path", BICEP, ids=lambda p: p.name)
def test_every_module_a_file_deploys_exists_and_gets_its_required_parameters(path) -> None:
    for module in bicep.load(path).modules:
        target = path.parent / module.path
        assert target.exists(), f"{path.name}: module {module.symbol} -> missing {module.path}"
        given = bicep.properties(bicep.properties(module.body)["params"])
        declared = bicep.load(target).params
        required = {n for n, p in declared.items() if p.default is None}
        assert not required - set(given), f"{module.symbol}: unset {required - set(given)}"
        assert not set(given) - set(declared), (
            f"{module.symbol}: unknown {set(given) - set(declared)}"
        )


def test_every_module_output_main_reads_is_declared_by_that_module() -> None:
    # Without a Bicep compiler here, a misspelt output would only fail in Azure.
    main = bicep.load(bicep.INFRA / "main.bicep")
    outputs = {m.symbol: set(bicep.load(bicep.INFRA / m.path).outputs) for m in main.modules}
    read = set(re.findall(r"\b(\w+)\.outputs\.(\w+)", main.source.decode()))
    assert read, "main.bicep reads no module output"
    assert sorted(f"{m}.{o}" for m, o in read if o not in outputs.get(m, set())) == []
