"""Durable orchestrators: thin, deterministic stories of each operation."""
