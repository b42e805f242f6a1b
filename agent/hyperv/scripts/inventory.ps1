# inventory.ps1: the clouds and VMs the DR agent reports, as VMM or Hyper-V document them.
#
#   inventory.ps1 -Action read     stdin: {"source": "vmm"|"host", "vmmServer": "...",
#                                          "customProperties": ["DRProtect", ...]}
#
# Prints one JSON line; the agent maps it to its inventory (agent/hyperv/inventory.py).
# VMM:  {"Clouds": [{"ID", "Name", "VMs": [VM]}]} where VM is Get-SCVirtualMachine's
#       ID, Name, Generation, CPUCount, Memory (MB), VirtualMachineState, SecureBootEnabled,
#       OperatingSystem {Name, OSType, Architecture}, VirtualDiskDrives [{ID, BusType, Bus,
#       LUN, VolumeType, IsSharedVirtualHardDisk?, PassThroughDisk?, VirtualHardDisk {ID, Name,
#       Location, VHDFormatType, VHDType, MaximumSize, Size}, LogicalSectorSize (Get-VHD)}],
#       VirtualNetworkAdapters [{ID, MACAddress, IPv4AddressType, IPv6AddressType,
#       IPv4Addresses, IPv6Addresses}], CustomProperties {name: value} (Get-SCCustomPropertyValue).
# Host: {"ComputerName", "VMs": [Get-VM's VMId, Name, Generation, ProcessorCount,
#       MemoryStartup (bytes), State, Notes, SecureBoot (Get-VMFirmware), HardDrives
#       [Get-VMHardDiskDrive's Path, ControllerType, ControllerNumber, ControllerLocation,
#       DiskNumber, SupportPersistentReservations, Vhd (Get-VHD's VhdFormat, VhdType, Size,
#       LogicalSectorSize, DiskIdentifier)], NetworkAdapters [Id, MacAddress, IPAddresses]]}.
# Enumerations are printed as their names. Exit 1 with the reason on stderr on failure.
param([Parameter(Mandatory)][ValidateSet('read')][string]$Action)
$ErrorActionPreference = 'Stop'
function Name($value) { if ($null -eq $value) { $null } else { "$value" } }
try {
    $request = [Console]::In.ReadToEnd() | ConvertFrom-Json
    if ($request.source -eq 'vmm') {
        Import-Module VirtualMachineManager
        $server = Get-SCVMMServer -ComputerName $request.vmmServer
        $props = @{}
        foreach ($p in @($request.customProperties)) {
            $found = Get-SCCustomProperty -Name $p -VMMServer $server -ErrorAction SilentlyContinue
            if ($found) { $props[$p] = $found }
        }
        $clouds = foreach ($cloud in Get-SCCloud -VMMServer $server) {
            $vms = foreach ($vm in Get-SCVirtualMachine -Cloud $cloud -VMMServer $server) {
                $drives = foreach ($d in $vm.VirtualDiskDrives) {
                    $vhd = $d.VirtualHardDisk
                    $sector = $null
                    if ($vhd) {
                        try { $sector = (Get-VHD -Path $vhd.Location -ComputerName $vm.VMHost.Name).LogicalSectorSize } catch { }
                    }
                    [pscustomobject]@{
                        ID = "$($d.ID)"; BusType = Name $d.BusType; Bus = $d.Bus; LUN = $d.Lun
                        VolumeType = Name $d.VolumeType
                        IsSharedVirtualHardDisk = [bool]$d.IsSharedVirtualHardDisk
                        PassThroughDisk = if ($d.PassThroughDisk) { Name $d.PassThroughDisk } else { $null }
                        LogicalSectorSize = $sector
                        VirtualHardDisk = if ($vhd) { [pscustomobject]@{
                            ID = "$($vhd.ID)"; Name = $vhd.Name; Location = $vhd.Location
                            VHDFormatType = Name $vhd.VHDFormatType; VHDType = Name $vhd.VHDType
                            MaximumSize = $vhd.MaximumSize; Size = $vhd.Size } } else { $null }
                    }
                }
                $nics = foreach ($n in $vm.VirtualNetworkAdapters) {
                    [pscustomobject]@{
                        ID = "$($n.ID)"; MACAddress = $n.MACAddress
                        IPv4AddressType = Name $n.IPv4AddressType; IPv6AddressType = Name $n.IPv6AddressType
                        IPv4Addresses = @($n.IPv4Addresses); IPv6Addresses = @($n.IPv6Addresses)
                    }
                }
                $values = @{}
                foreach ($p in $props.Keys) {
                    $v = Get-SCCustomPropertyValue -InputObject $vm -CustomProperty $props[$p]
                    if ($v) { $values[$p] = "$($v.Value)" }
                }
                [pscustomobject]@{
                    ID = "$($vm.ID)"; Name = $vm.Name; Generation = $vm.Generation
                    CPUCount = $vm.CPUCount; Memory = $vm.Memory
                    VirtualMachineState = Name $vm.VirtualMachineState
                    SecureBootEnabled = [bool]$vm.SecureBootEnabled
                    OperatingSystem = [pscustomobject]@{
                        Name = Name $vm.OperatingSystem.Name; OSType = Name $vm.OperatingSystem.OSType
                        Architecture = Name $vm.OperatingSystem.Architecture }
                    VirtualDiskDrives = @($drives); VirtualNetworkAdapters = @($nics)
                    CustomProperties = $values
                }
            }
            [pscustomobject]@{ ID = "$($cloud.ID)"; Name = $cloud.Name; VMs = @($vms) }
        }
        ConvertTo-Json -InputObject ([pscustomobject]@{ Clouds = @($clouds) }) -Depth 8 -Compress
    }
    else {
        $vms = foreach ($vm in Get-VM) {
            $drives = foreach ($d in Get-VMHardDiskDrive -VM $vm) {
                $vhd = $null
                if ($d.Path -and -not $d.DiskNumber) {
                    $v = Get-VHD -Path $d.Path
                    $vhd = [pscustomobject]@{ VhdFormat = Name $v.VhdFormat; VhdType = Name $v.VhdType
                        Size = $v.Size; LogicalSectorSize = $v.LogicalSectorSize
                        DiskIdentifier = "$($v.DiskIdentifier)" }
                }
                [pscustomobject]@{ Path = $d.Path; ControllerType = Name $d.ControllerType
                    ControllerNumber = $d.ControllerNumber; ControllerLocation = $d.ControllerLocation
                    DiskNumber = $d.DiskNumber
                    SupportPersistentReservations = [bool]$d.SupportPersistentReservations; Vhd = $vhd }
            }
            $nics = foreach ($n in Get-VMNetworkAdapter -VM $vm) {
                [pscustomobject]@{ Id = $n.Id; MacAddress = $n.MacAddress; IPAddresses = @($n.IPAddresses) }
            }
            $secure = $null
            if ($vm.Generation -eq 2) { $secure = Name (Get-VMFirmware -VM $vm).SecureBoot }
            [pscustomobject]@{ VMId = "$($vm.VMId)"; Name = $vm.Name; Generation = $vm.Generation
                ProcessorCount = $vm.ProcessorCount; MemoryStartup = $vm.MemoryStartup
                State = Name $vm.State; Notes = $vm.Notes; SecureBoot = $secure
                HardDrives = @($drives); NetworkAdapters = @($nics) }
        }
        ConvertTo-Json -InputObject ([pscustomobject]@{ ComputerName = $env:COMPUTERNAME; VMs = @($vms) }) -Depth 8 -Compress
    }
    exit 0
}
catch {
    [Console]::Error.WriteLine($_.Exception.Message)
    exit 1
}
