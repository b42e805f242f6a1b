"""Azure Functions route templates, matched in the app: the signed-in console's door
(triggers/console_api.py) finds the runbook route a path belongs to the way the Functions host
does, so the same handler answers the same path with the same route values.

Only the forms the app's routes use are known: literal segments, `{name}` (one whole segment)
and a last `{*name}` (the rest of the path). Any other form is refused when the route is
declared, so a route this matcher would get wrong fails at import, not at the first request.
Literal segments compare without case, as the host's routing does; a route value is matched
on the path as sent (percent-encoded) and decoded afterwards, so a `%2F` inside a VM id stays
inside that value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

_PARAM = re.compile(r"\{(\*?)([A-Za-z_][A-Za-z0-9_]*)\}")


class UnsupportedRoute(ValueError):
    """A route template in a form this matcher does not know."""


@dataclass(frozen=True)
class Segment:
    text: str  # the literal, or the route value's name
    is_value: bool = False
    is_rest: bool = False


@dataclass(frozen=True)
class RouteTemplate:
    template: str
    segments: tuple[Segment, ...]

    @classmethod
    def parse(cls, template: str) -> RouteTemplate:
        parts = template.strip("/").split("/")
        segments = []
        for index, part in enumerate(parts):
            found = _PARAM.fullmatch(part)
            if found is None:
                if "{" in part or "}" in part or not part:
                    raise UnsupportedRoute(
                        f"Route {template!r}: segment {part!r} is not a literal, {{name}} or "
                        "{*name}."
                    )
                segments.append(Segment(part))
                continue
            rest, name = found.groups()
            if rest and index != len(parts) - 1:
                raise UnsupportedRoute(f"Route {template!r}: {{*{name}}} must be the last segment.")
            segments.append(Segment(name, is_value=True, is_rest=bool(rest)))
        return cls(template, tuple(segments))

    def match(self, path: str) -> dict[str, str] | None:
        """The route values of `path` (as in the request's URL, without the route prefix),
        decoded; None when the path is not this route's."""
        parts = path.strip("/").split("/")
        values: dict[str, str] = {}
        for index, segment in enumerate(self.segments):
            if segment.is_rest:
                values[segment.text] = unquote("/".join(parts[index:]))
                return values
            if index >= len(parts):
                return None
            part = parts[index]
            if segment.is_value:
                if not part:
                    return None
                values[segment.text] = unquote(part)
            elif unquote(part).lower() != segment.text.lower():
                return None
        return values if len(parts) == len(self.segments) else None
