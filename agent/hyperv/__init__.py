"""Hyper-V and System Center VMM through PowerShell scripts shipped with the agent.

The scripts in `scripts/` only call the documented cmdlets and WMI methods and print their
documented properties as one JSON line; every decision (what is off, what changed, how a VM maps
to the inventory) is made in Python here, where it is tested. `powershell` runs a script, `power`
is power control, `inventory` reads clouds and VMs, `rct` asks for changed ranges.
"""
