"""Deployment registries: the embedded SQLite one (and later Prefect), behind one interface."""
