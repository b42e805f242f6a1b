"""ARM resource ids: parsed once, compared case-insensitively, as ARM compares them.

`/subscriptions/{s}/resourceGroups/{rg}/providers/{Namespace}/{type}/{name}[/{child}/{name}]`.
The stand-in keys its state by the lower-cased id and keeps the caller's spelling in bodies.
"""

from __future__ import annotations

from dataclasses import dataclass

from devhost.arm.errors import ArmError


@dataclass(frozen=True)
class ResourceId:
    subscription: str
    resource_group: str
    namespace: str
    types: tuple[str, ...]  # ("virtualNetworks", "subnets")
    names: tuple[str, ...]  # ("vnet-recovery", "default")

    @classmethod
    def parse(cls, value: str, target: str = "id") -> ResourceId:
        parts = [p for p in value.strip().split("/") if p]
        ok = (
            len(parts) >= 8
            and len(parts) % 2 == 0
            and parts[0].lower() == "subscriptions"
            and parts[2].lower() == "resourcegroups"
            and parts[4].lower() == "providers"
        )
        if not ok:
            raise ArmError(
                400,
                "LinkedInvalidPropertyId",
                f"Property id '{value}' at path '{target}' is invalid. Expect fully qualified "
                "resource Id that start with '/subscriptions/{subscriptionId}' or "
                "'/providers/{resourceProviderNamespace}/'.",
                target,
            )
        rest = parts[6:]
        return cls(
            subscription=parts[1],
            resource_group=parts[3],
            namespace=parts[5],
            types=tuple(rest[0::2]),
            names=tuple(rest[1::2]),
        )

    @classmethod
    def build(
        cls, subscription: str, resource_group: str, namespace: str, *pairs: tuple[str, str]
    ) -> ResourceId:
        return cls(
            subscription,
            resource_group,
            namespace,
            tuple(t for t, _ in pairs),
            tuple(n for _, n in pairs),
        )

    @property
    def type(self) -> str:
        """`Microsoft.Network/virtualNetworks/subnets`, as ARM writes `type`."""
        return "/".join((self.namespace, *self.types))

    @property
    def name(self) -> str:
        return self.names[-1]

    @property
    def parent(self) -> ResourceId | None:
        if len(self.types) < 2:
            return None
        return ResourceId(
            self.subscription,
            self.resource_group,
            self.namespace,
            self.types[:-1],
            self.names[:-1],
        )

    def __str__(self) -> str:
        tail = "/".join(f"{t}/{n}" for t, n in zip(self.types, self.names, strict=True))
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
            f"/providers/{self.namespace}/{tail}"
        )

    @property
    def key(self) -> str:
        return str(self).lower()
