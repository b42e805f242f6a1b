# rct.ps1: Hyper-V resilient change tracking (RCT) for the DR agent. Windows PowerShell 5.1.
#
#   rct.ps1 -Action reference   stdin: {"vmId": "GUID", "paths": [...]}
#       Takes a recovery checkpoint of the VM (Msvm_VirtualSystemSnapshotService.CreateSnapshot,
#       SnapshotType 32768), converts it to a reference point
#       (Msvm_VirtualSystemReferencePointService.ConvertToReferencePoint) and prints
#       {"ReferencePoint": {InstanceID, ReferencePointType, ResilientChangeTrackingIdentifiers,
#        VirtualDiskIdentifiers}, "Disks": [{VirtualDiskIdentifier, Path}]}: the RCT id of each
#       disk now, the baseline of the next cycle. Older reference points of the VM but the
#       newest two are destroyed, so they do not pile up.
#   rct.ps1 -Action changes     stdin: {"path": "...", "limitId": "RCT id", "byteLength": N}
#       Msvm_ImageManagementService.GetVirtualDiskChanges from offset 0 over N bytes (called
#       again from where ProcessedByteLength ended until all of it is processed); prints
#       {ReturnValue, ProcessedByteLength, ChangedByteOffsets, ChangedByteLengths}. A non-zero
#       ReturnValue is printed, not thrown: the agent decides what it means (32773, an invalid
#       RCT id: change tracking was reset).
# Exit 3: no such VM. Exit 1: anything else, with the reason on stderr.
param([Parameter(Mandatory)][ValidateSet('reference', 'changes')][string]$Action)
$ErrorActionPreference = 'Stop'
$ns = 'root\virtualization\v2'
function Wait-Job($result) {
    # 4096: the method started a job; wait for it and fail with its error.
    if ($result.ReturnValue -eq 4096) {
        $job = [wmi]$result.Job
        while ($job.JobState -in 2, 3, 4) { Start-Sleep -Milliseconds 200; $job = [wmi]$result.Job }
        if ($job.JobState -ne 7) { throw "job failed: $($job.ErrorDescription)" }
        return $job
    }
    if ($result.ReturnValue -ne 0) { throw "method returned $($result.ReturnValue)" }
}
try {
    $request = [Console]::In.ReadToEnd() | ConvertFrom-Json
    if ($Action -eq 'reference') {
        $id = [guid]$request.vmId
        $vm = Get-WmiObject -Namespace $ns -Class Msvm_ComputerSystem -Filter "Name='$id'"
        if (-not $vm) { [Console]::Error.WriteLine("no VM with VMId $id on this host"); exit 3 }
        $snapshots = Get-WmiObject -Namespace $ns -Class Msvm_VirtualSystemSnapshotService
        $settings = ([wmiclass]"\\.\${ns}:Msvm_VirtualSystemSnapshotSettingData").CreateInstance()
        $settings.ConsistencyLevel = 2  # crash consistent: no VSS in the guest
        $made = $snapshots.CreateSnapshot($vm, $settings.GetText(2), 32768)
        $null = Wait-Job $made
        $snapshot = Get-WmiObject -Namespace $ns -Query "ASSOCIATORS OF {$($vm.__PATH)} WHERE AssocClass=Msvm_SnapshotOfVirtualSystem" |
            Sort-Object CreationTime | Select-Object -Last 1
        $points = Get-WmiObject -Namespace $ns -Class Msvm_VirtualSystemReferencePointService
        $converted = $points.ConvertToReferencePoint($snapshot)
        $null = Wait-Job $converted
        $all = Get-WmiObject -Namespace $ns -Query "ASSOCIATORS OF {$($vm.__PATH)} WHERE AssocClass=Msvm_ReferencePointOfVirtualSystem" |
            Where-Object { $_.ReferencePointType -eq 2 } | Sort-Object InstanceID
        $point = Get-WmiObject -Namespace $ns -Class Msvm_VirtualSystemReferencePoint |
            Where-Object { $_.VirtualSystemIdentifier -eq "$id" } | Select-Object -Last 1
        $disks = foreach ($diskId in $point.VirtualDiskIdentifiers) {
            $sasd = Get-WmiObject -Namespace $ns -Class Msvm_StorageAllocationSettingData |
                Where-Object { $_.InstanceID -eq $diskId }
            [pscustomobject]@{ VirtualDiskIdentifier = $diskId; Path = @($sasd.HostResource)[0] }
        }
        foreach ($old in @($all | Select-Object -SkipLast 2)) { $null = $points.DestroyReferencePoint($old) }
        ConvertTo-Json -Depth 4 -Compress -InputObject ([pscustomobject]@{
            ReferencePoint = [pscustomobject]@{
                InstanceID = $point.InstanceID; ReferencePointType = $point.ReferencePointType
                ResilientChangeTrackingIdentifiers = @($point.ResilientChangeTrackingIdentifiers)
                VirtualDiskIdentifiers = @($point.VirtualDiskIdentifiers) }
            Disks = @($disks) })
    }
    else {
        $images = Get-WmiObject -Namespace $ns -Class Msvm_ImageManagementService
        $total = [uint64]$request.byteLength
        $done = [uint64]0
        $offsets = New-Object System.Collections.Generic.List[uint64]
        $lengths = New-Object System.Collections.Generic.List[uint64]
        while ($done -lt $total) {
            $out = $images.GetVirtualDiskChanges($request.path, $request.limitId, $null, $done, $total - $done)
            if ($out.ReturnValue -eq 4096) { $null = Wait-Job $out }
            elseif ($out.ReturnValue -ne 0) {
                ConvertTo-Json -Compress -InputObject ([pscustomobject]@{ ReturnValue = $out.ReturnValue })
                exit 0
            }
            foreach ($o in @($out.ChangedByteOffsets)) { $offsets.Add($o) }
            foreach ($l in @($out.ChangedByteLengths)) { $lengths.Add($l) }
            if ($out.ProcessedByteLength -eq 0) { break }
            $done += $out.ProcessedByteLength
        }
        ConvertTo-Json -Compress -InputObject ([pscustomobject]@{ ReturnValue = 0
            ProcessedByteLength = $done; ChangedByteOffsets = $offsets.ToArray()
            ChangedByteLengths = $lengths.ToArray() })
    }
    exit 0
}
catch {
    [Console]::Error.WriteLine($_.Exception.Message)
    exit 1
}
