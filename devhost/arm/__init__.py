"""The local ARM stand-in: the subset of Azure Resource Manager failover calls.

Compute (managed disks with Import and grant access, VMs, resource SKUs) and Network (VNets,
subnets, NICs), over HTTPS on loopback, reached by the unchanged app through `ARM_ENDPOINT`
with the real azure-mgmt-* SDKs, plus the managed-identity endpoint those SDKs' credential
asks for a token. See docs/devhost.md.
"""

from devhost.arm.config import LOCAL_SUBSCRIPTION, StandInConfig, local_failover_settings
from devhost.arm.server import ArmStandIn

__all__ = ["LOCAL_SUBSCRIPTION", "ArmStandIn", "StandInConfig", "local_failover_settings"]
