"""Embedded adapters: DuckDB, a folder, SQLite and an in-process queue."""
