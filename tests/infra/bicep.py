"""Reading Bicep with the tree-sitter grammar, for the infra tests (no Azure, no Bicep CLI).

The grammar (PyPI `tree-sitter-bicep`) parses `.bicep` files fully. For `.bicepparam` it knows
the `using` statement but not `param name = value` assignments (it expects a type after the
name), so a parameters file is checked by rewriting each top-level `param` keyword to `var`,
padded to the same length: the value is then parsed by the same expression grammar, and error
positions still point at the original text.

`literal()` turns an expression node into Python values where the source is a literal (strings
without interpolation, numbers, booleans, null, objects, arrays) and into `Expr` otherwise, so a
test can compare what is written with what it expects, and see expressions as expressions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import tree_sitter_bicep
from tree_sitter import Language, Node, Parser

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"

_PARAM_ASSIGNMENT = re.compile(rb"(?m)^param(?=\s+\w+\s*=)")


@cache
def _parser() -> Parser:
    return Parser(Language(tree_sitter_bicep.language()))


def as_bicep(source: bytes, *, param_file: bool) -> bytes:
    """The text the grammar parses: a parameters file's `param x =` become `var   x =`."""
    return _PARAM_ASSIGNMENT.sub(b"var  ", source) if param_file else source


def parse(source: bytes, *, param_file: bool = False) -> Node:
    return _parser().parse(as_bicep(source, param_file=param_file)).root_node


def syntax_errors(source: bytes, *, param_file: bool = False) -> list[str]:
    """Every ERROR or MISSING node, as 'line:column: what', empty when the text is valid."""
    problems: list[str] = []

    def walk(node: Node) -> None:
        if node.type == "ERROR" or node.is_missing:
            line, column = node.start_point
            what = f"missing {node.type}" if node.is_missing else "unexpected"
            snippet = source[node.start_byte : node.start_byte + 40].decode(errors="replace")
            problems.append(f"{line + 1}:{column + 1}: {what} near {snippet!r}")
        for child in node.children:
            walk(child)

    root = parse(source, param_file=param_file)
    walk(root)
    if param_file:
        # A parameters file only assigns: a `param` left after the rewrite had no `=`.
        for node in root.named_children:
            if node.type in ("parameter_declaration", "resource_declaration", "output_declaration"):
                line, column = node.start_point
                problems.append(
                    f"{line + 1}:{column + 1}: a parameters file only has `param <name> = <value>`"
                )
    return problems


@dataclass(frozen=True)
class Expr:
    """An expression that is not a literal, kept as its source text."""

    text: str


def text(node: Node) -> str:
    return node.text.decode()


def literal(node: Node) -> Any:
    """Python value of a literal node; `Expr` for anything computed."""
    kind = node.type
    if kind == "string":
        if any(child.type == "interpolation" for child in node.named_children):
            return Expr(text(node))
        return "".join(text(c) for c in node.named_children if c.type == "string_content")
    if kind == "number":
        return int(text(node))
    if kind == "boolean":
        return text(node) == "true"
    if kind == "null":
        return None
    if kind == "object":
        result: dict[str, Any] = {}
        for prop in node.named_children:
            if prop.type != "object_property":
                continue
            key_node, value_node = prop.named_children[0], prop.named_children[-1]
            key = literal(key_node) if key_node.type == "string" else text(key_node)
            result[key] = literal(value_node)
        return result
    if kind == "array":
        return [literal(child) for child in node.named_children if child.type != "comment"]
    return Expr(text(node))


def properties(node: Node) -> dict[str, Node]:
    """The property nodes of an object node, by key (values unevaluated)."""
    found: dict[str, Node] = {}
    for prop in node.named_children:
        if prop.type == "object_property":
            key_node = prop.named_children[0]
            key = literal(key_node) if key_node.type == "string" else text(key_node)
            found[key] = prop.named_children[-1]
    return found


def _decorators_before(node: Node) -> list[str]:
    sibling = node.prev_named_sibling
    if sibling is not None and sibling.type == "decorators":
        return [text(d).lstrip("@") for d in sibling.named_children]
    return []


def _body(node: Node) -> tuple[Node | None, str | None, str | None]:
    """The object body of a declaration, with loop and condition texts when present."""
    loop = condition = None
    for child in node.named_children:
        current = child
        if current.type == "for_statement":
            loop = text(current)
            inner = current.child_by_field_name("body") or current.named_children[-1]
            current = inner
        if current.type == "if_statement":
            condition = text(current.named_children[0])
            current = current.named_children[-1]
        if current.type == "object":
            return current, loop, condition
    return None, loop, condition


@dataclass
class Resource:
    symbol: str
    type: str
    api_version: str
    existing: bool
    body: Node | None
    loop: str | None
    condition: str | None
    file: Path

    @property
    def props(self) -> dict[str, Node]:
        return properties(self.body) if self.body is not None else {}


@dataclass
class Param:
    name: str
    type: str
    default: Node | None
    decorators: list[str] = field(default_factory=list)

    @property
    def secure(self) -> bool:
        return any(d.startswith("secure(") or d.startswith("sys.secure(") for d in self.decorators)


@dataclass
class Output:
    name: str
    value: Node


@dataclass
class Module:
    symbol: str
    path: str
    body: Node | None


@dataclass
class BicepFile:
    path: Path
    source: bytes
    root: Node
    resources: list[Resource]
    params: dict[str, Param]
    outputs: dict[str, Output]
    modules: list[Module]

    def resources_of(self, type_: str) -> list[Resource]:
        return [r for r in self.resources if r.type.lower() == type_.lower()]


def _nested_resources(node: Node, parent_type: str, path: Path, source: bytes) -> list[Resource]:
    """Resources declared inside a parent's body (`resource q 'queues' = ...`)."""
    found: list[Resource] = []
    body, _, _ = _body(node)
    if body is None:
        return found
    for child in body.named_children:
        # The grammar wraps a nested declaration in an object_property.
        inner = child.named_children[0] if child.type == "object_property" else child
        if inner.type == "resource_declaration":
            found.extend(_resource(inner, path, source, parent_type=parent_type))
    return found


def _resource(node: Node, path: Path, source: bytes, parent_type: str = "") -> list[Resource]:
    symbol = text(node.named_children[0])
    type_node = node.named_children[1]
    raw = literal(type_node)
    if "@" in raw:
        type_, version = raw.split("@", 1)
    else:  # nested: 'queues' under its parent's type and version
        base, version = parent_type.split("@", 1)
        type_ = f"{base}/{raw}"
    body, loop, condition = _body(node)
    head = source[type_node.end_byte : (body or node).start_byte]
    resource = Resource(symbol, type_, version, b"existing" in head, body, loop, condition, path)
    return [resource, *_nested_resources(node, f"{type_}@{version}", path, source)]


def load(path: Path) -> BicepFile:
    source = path.read_bytes()
    root = parse(source)
    resources: list[Resource] = []
    params: dict[str, Param] = {}
    outputs: dict[str, Output] = {}
    modules: list[Module] = []
    for node in root.named_children:
        if node.type == "resource_declaration":
            resources.extend(_resource(node, path, source))
        elif node.type == "parameter_declaration":
            name, type_node = node.named_children[0], node.named_children[1]
            default = node.named_children[2] if len(node.named_children) > 2 else None
            params[text(name)] = Param(
                text(name), text(type_node), default, _decorators_before(node)
            )
        elif node.type == "output_declaration":
            outputs[text(node.named_children[0])] = Output(
                text(node.named_children[0]), node.named_children[-1]
            )
        elif node.type == "module_declaration":
            body, _, _ = _body(node)
            modules.append(
                Module(text(node.named_children[0]), literal(node.named_children[1]), body)
            )
    return BicepFile(path, source, root, resources, params, outputs, modules)


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


def param_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicepparam"))


def assigned_params(path: Path) -> tuple[str, dict[str, Node]]:
    """A parameters file's `using` target and its assignments (value nodes)."""
    source = path.read_bytes()
    root = parse(source, param_file=True)
    using = ""
    assigned: dict[str, Node] = {}
    for node in root.named_children:
        if node.type == "using_statement":
            using = literal(node.named_children[0])
        elif node.type == "variable_declaration":
            assigned[text(node.named_children[0])] = node.named_children[-1]
    return using, assigned


def walk(node: Node):
    yield node
    for child in node.children:
        yield from walk(child)
