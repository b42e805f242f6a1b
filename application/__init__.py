"""The application layer: what triggers and activities both call.

Starting an operation on a VM, evaluating a VM against the prerequisites, re-checking a
protected VM, a replicated item's health as of now, the replication instance of a VM, the
replica's verification and recovery points. It reads and writes through `readmodels` and the
Azure clients, decides through `domain`, and knows no trigger, orchestrator or activity.
"""
