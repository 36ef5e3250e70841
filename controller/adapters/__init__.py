"""Adapters: all I/O, one library each (git, sqlite, storage). No library error escapes them."""
