"""Activities: the only code that does I/O (Azure SDKs, Table Storage, Service Bus)."""
