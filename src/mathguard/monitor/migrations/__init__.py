"""Alembic migrations of the monitor's database (run by ``Store.migrate``; no alembic.ini needed)."""
