"""A catalogue of Azure VM sizes that a protected VM can fail over as.

Numbers (vCPUs, memory in GiB, max data disks, Hyper-V generations) are those Azure documents
per size family: https://learn.microsoft.com/azure/virtual-machines/sizes/overview and the family
pages linked from it (Av2, B, Dsv3, Dsv5, Esv5, Fsv2). Av2 sizes run generation 1 VMs only.
Checked against the size tables of MicrosoftDocs/azure-docs (articles/virtual-machines:
dv5-dsv5-series.md, av2-series.md, the B-series page): vCPU, memory GiB, max data disks.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.model import Vm

DOCS = "https://learn.microsoft.com/azure/virtual-machines/sizes/overview"


@dataclass(frozen=True)
class AzureSize:
    name: str
    vcpus: int
    memory_gib: float
    max_data_disks: int
    generations: frozenset[int]
    family: str

    @property
    def memory_mb(self) -> int:
        return int(self.memory_gib * 1024)

    def shortfalls(self, vm: Vm) -> list[str]:
        """Why this size cannot host `vm` (empty: it fits)."""
        why = []
        if self.vcpus < vm.vcpus:
            why.append(f"{self.vcpus} vCPUs < the VM's {vm.vcpus}")
        if self.memory_mb < vm.memory_mb:
            why.append(f"{self.memory_mb} MB memory < the VM's {vm.memory_mb} MB")
        data = len(vm.data_disks)
        if self.max_data_disks < data:
            why.append(f"at most {self.max_data_disks} data disks < the VM's {data}")
        if vm.generation not in self.generations:
            why.append(f"does not run generation {vm.generation} VMs")
        return why

    def fits(self, vm: Vm) -> bool:
        return not self.shortfalls(vm)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "vcpus": self.vcpus,
            "memoryGib": self.memory_gib,
            "maxDataDisks": self.max_data_disks,
            "generations": sorted(self.generations),
            "family": self.family,
        }


_G1 = frozenset({1})
_G12 = frozenset({1, 2})


def _s(name: str, vcpus: int, mem: float, disks: int, gens: frozenset[int], fam: str) -> AzureSize:
    return AzureSize(name, vcpus, mem, disks, gens, fam)


SIZES: dict[str, AzureSize] = {
    s.name: s
    for s in (
        _s("Standard_A1_v2", 1, 2, 2, _G1, "Av2"),
        _s("Standard_A2_v2", 2, 4, 4, _G1, "Av2"),
        _s("Standard_A4_v2", 4, 8, 8, _G1, "Av2"),
        _s("Standard_A8_v2", 8, 16, 16, _G1, "Av2"),
        _s("Standard_B1s", 1, 1, 2, _G12, "B"),
        _s("Standard_B1ms", 1, 2, 2, _G12, "B"),
        _s("Standard_B2s", 2, 4, 4, _G12, "B"),
        _s("Standard_B2ms", 2, 8, 4, _G12, "B"),
        _s("Standard_B4ms", 4, 16, 8, _G12, "B"),
        _s("Standard_D2s_v3", 2, 8, 4, _G12, "Dsv3"),
        _s("Standard_D4s_v3", 4, 16, 8, _G12, "Dsv3"),
        _s("Standard_D2s_v5", 2, 8, 4, _G12, "Dsv5"),
        _s("Standard_D4s_v5", 4, 16, 8, _G12, "Dsv5"),
        _s("Standard_D8s_v5", 8, 32, 16, _G12, "Dsv5"),
        _s("Standard_D16s_v5", 16, 64, 32, _G12, "Dsv5"),
        _s("Standard_D32s_v5", 32, 128, 32, _G12, "Dsv5"),
        _s("Standard_D64s_v5", 64, 256, 32, _G12, "Dsv5"),
        _s("Standard_E2s_v5", 2, 16, 4, _G12, "Esv5"),
        _s("Standard_E4s_v5", 4, 32, 8, _G12, "Esv5"),
        _s("Standard_E8s_v5", 8, 64, 16, _G12, "Esv5"),
        _s("Standard_E16s_v5", 16, 128, 32, _G12, "Esv5"),
        _s("Standard_F2s_v2", 2, 4, 4, _G12, "Fsv2"),
        _s("Standard_F4s_v2", 4, 8, 8, _G12, "Fsv2"),
        _s("Standard_F8s_v2", 8, 16, 16, _G12, "Fsv2"),
    )
}


def get_size(name: str) -> AzureSize | None:
    """The size by name, case-insensitive as Azure treats size names; None if unknown."""
    exact = SIZES.get(name)
    if exact is not None:
        return exact
    lowered = name.lower()
    return next((s for s in SIZES.values() if s.name.lower() == lowered), None)


def fitting_sizes(vm: Vm) -> list[AzureSize]:
    """Every size that fits, cheapest-looking first (fewest vCPUs, then least memory)."""
    fits = [s for s in SIZES.values() if s.fits(vm)]
    return sorted(fits, key=lambda s: (s.vcpus, s.memory_gib, s.max_data_disks, s.name))


def smallest_fitting(vm: Vm) -> AzureSize | None:
    fits = fitting_sizes(vm)
    return fits[0] if fits else None
