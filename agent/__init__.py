"""The on-premises agent: reads Hyper-V disks and replicates them into Azure page blobs."""
