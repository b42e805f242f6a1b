"""Azure plumbing: the app's settings, the SDK clients built from them (Table, Blob, Service
Bus), per-blob SAS for the agent, and the Service Bus senders. Nothing here knows the domain."""
