"""Store-level checks: the migration builds exactly the code's schema, keys are stored hashed, the CLI prints the key."""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner

from mathguard.cli import main
from mathguard.monitor import schema
from mathguard.monitor.store import Store


def test_migration_matches_schema_and_is_idempotent(db_url) -> None:  # noqa: ANN001
    store = Store(db_url)
    try:
        store.migrate()
        store.migrate()
        with store.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), schema.metadata)
            mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar() if store.dialect == "sqlite" else "wal"
        assert diff == []
        assert mode == "wal"
    finally:
        store.close()


def test_keys_create_prints_the_key_once_and_stores_only_its_hash(db_url) -> None:  # noqa: ANN001
    result = CliRunner().invoke(main, ["keys", "create", "--db", db_url, "--scope", "ingest,read", "--name", "ci"])
    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[-1]
    assert key.startswith("mg_") and len(key) > 40
    store = Store(db_url)
    try:
        assert store.scopes(key) == {"ingest", "read"}
        with store.reader.connect() as conn:
            stored = conn.execute(sa.select(schema.api_keys.c.key_hash).where(schema.api_keys.c.name == "ci")).scalar()
        assert stored == hashlib.sha256(key.encode()).hexdigest() and key not in stored
        listed = CliRunner().invoke(main, ["keys", "list", "--db", db_url]).output
        assert "ci" in listed and key not in listed
        assert CliRunner().invoke(main, ["keys", "revoke", "--db", db_url, key[:10]]).exit_code == 0
        assert store.scopes(key) is None
    finally:
        store.close()
    bad = CliRunner().invoke(main, ["keys", "create", "--db", db_url, "--scope", "root", "--name", "x"])
    assert bad.exit_code == 2 and "unknown or empty scopes" in bad.output


def test_retention_deletes_old_folded_batches_in_chunks_and_keeps_windows(tmp_path) -> None:  # noqa: ANN001
    import numpy as np

    import mathguard as mg
    from mathguard.monitor.events import parse_batch
    from mathguard.monitor.windows import fold_pending

    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    try:
        store.migrate()
        rng = np.random.default_rng(0)
        model = store.register_model("r", mg.drift.profile(rng.normal(size=(500, 3))), 10)
        for i in range(7):
            batch = parse_batch({"batch_id": f"b{i}", "features": rng.normal(size=(10, 3)).tolist()}, n_features=3,
                                n_classes=None, now=1000.0 * (i + 1), max_events=100, clock_skew=0)
            assert store.insert_batch(model, batch, received_at=1000.0 * (i + 1))
        assert store.purge(older_than=10_000, chunk=2) == 0  # nothing folded yet: nothing may go
        assert fold_pending(store, 3600) == 70
        assert store.purge(older_than=5500, chunk=2) == 5  # received at 1000..5000, deleted 2 + 2 + 1
        stats = store.stats(model)
        assert stats["events"] == 20 and stats["profiled_events"] == 70
    finally:
        store.close()
