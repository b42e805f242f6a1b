"""Power control of a source VM: the planned failover's shutdown, confirmed off.

`control` is what a way of reaching the VM must do (state, shut down, turn off), `hook` does it
through the operator's shutdown hook, `agent.hyperv.power` through VMM or Hyper-V PowerShell, and
`shutdown` is the procedure on top: already off, ask, wait, (optionally) turn off, or time out.
"""
