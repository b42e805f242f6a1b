# power.ps1: power state and shutdown of one VM, for the DR agent.
#
#   power.ps1 -Action status|shutdown|turnoff     stdin: {"source": "vmm"|"host",
#                                                         "vmmServer": "...", "vmId": "GUID"}
#
# Prints one JSON line with the VM's documented properties after the action:
#   VMM (Get-SCVirtualMachine):  ID, Name, VirtualMachineState, Status
#   Hyper-V (Get-VM):            VMId, Name, State
# Enumerations are printed as their names (ConvertTo-Json would print numbers).
# shutdown: VMM Stop-SCVirtualMachine -Shutdown (the guest shuts its OS down) / Hyper-V Stop-VM
#   -Force (shuts the guest down without prompting; a guest with unsaved work gets five minutes).
# turnoff:  VMM Stop-SCVirtualMachine -Force / Hyper-V Stop-VM -TurnOff (like pulling the plug).
# Both return once the job is started: the agent reads the state until it is off.
# Exit 3: no such VM. Exit 1: anything else, with the reason on stderr.
param(
    [Parameter(Mandatory)][ValidateSet('status', 'shutdown', 'turnoff')][string]$Action
)
$ErrorActionPreference = 'Stop'
try {
    $request = [Console]::In.ReadToEnd() | ConvertFrom-Json
    $id = [guid]$request.vmId
    if ($request.source -eq 'vmm') {
        Import-Module VirtualMachineManager
        $server = Get-SCVMMServer -ComputerName $request.vmmServer
        $vm = Get-SCVirtualMachine -ID $id -VMMServer $server
        if (-not $vm) { [Console]::Error.WriteLine("no VM with ID $id in VMM"); exit 3 }
        $off = "$($vm.VirtualMachineState)" -eq 'PowerOff'
        if ($Action -eq 'shutdown' -and -not $off) {
            $null = Stop-SCVirtualMachine -VM $vm -Shutdown -RunAsynchronously
        }
        elseif ($Action -eq 'turnoff' -and -not $off) {
            $null = Stop-SCVirtualMachine -VM $vm -Force -RunAsynchronously
        }
        $vm = Get-SCVirtualMachine -ID $id -VMMServer $server
        [pscustomobject]@{
            ID = "$($vm.ID)"; Name = $vm.Name
            VirtualMachineState = "$($vm.VirtualMachineState)"; Status = "$($vm.Status)"
        } | ConvertTo-Json -Compress
    }
    else {
        $vm = Get-VM -Id $id -ErrorAction SilentlyContinue
        if (-not $vm) { [Console]::Error.WriteLine("no VM with VMId $id on this host"); exit 3 }
        $off = "$($vm.State)" -eq 'Off'
        if ($Action -eq 'shutdown' -and -not $off) { $null = Stop-VM -VM $vm -Force -AsJob }
        elseif ($Action -eq 'turnoff' -and -not $off) { Stop-VM -VM $vm -TurnOff -Force }
        $vm = Get-VM -Id $id
        [pscustomobject]@{ VMId = "$($vm.VMId)"; Name = $vm.Name; State = "$($vm.State)" } |
            ConvertTo-Json -Compress
    }
    exit 0
}
catch {
    [Console]::Error.WriteLine($_.Exception.Message)
    exit 1
}
