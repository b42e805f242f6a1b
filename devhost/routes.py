"""Azure Functions route templates: `{name}`, `{name?}`, `{name:int}`, `{*rest}`."""

from __future__ import annotations

import re
from dataclasses import dataclass

_PARAM = re.compile(r"\{(\*?)([A-Za-z_][A-Za-z0-9_]*)(?::([a-z]+))?(\?)?\}")
_CONSTRAINTS = {
    "int": r"-?\d+",
    "long": r"-?\d+",
    "bool": r"(?i:true|false)",
    "alpha": r"[A-Za-z]+",
    "guid": r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}",
}


@dataclass(frozen=True)
class RouteTemplate:
    template: str
    pattern: re.Pattern[str]

    @classmethod
    def compile(cls, template: str) -> RouteTemplate:
        out, pos = [], 0
        template = template.strip("/")
        for match in _PARAM.finditer(template):
            out.append(re.escape(template[pos : match.start()]))
            catch_all, name, constraint, optional = match.groups()
            body = ".*" if catch_all else _CONSTRAINTS.get(constraint or "", r"[^/]+")
            group = f"(?P<{name}>{body})"
            if optional:
                # an optional last segment also drops its slash
                if out and out[-1].endswith("/"):
                    out[-1] = out[-1][:-1]
                    group = f"(?:/{group})?"
                else:
                    group += "?"
            out.append(group)
            pos = match.end()
        out.append(re.escape(template[pos:]))
        # DOTALL: a route value may hold any character but '/' (a %0A in a VM id is the
        # app's to refuse, as in Azure, not a route that does not exist).
        return cls(template, re.compile("^" + "".join(out) + r"\Z", re.IGNORECASE | re.DOTALL))

    def match(self, path: str) -> dict[str, str] | None:
        found = self.pattern.match(path.strip("/"))
        if found is None:
            return None
        return {k: v for k, v in found.groupdict().items() if v is not None}
