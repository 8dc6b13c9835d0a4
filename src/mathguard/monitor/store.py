"""The service's database: one code path for SQLite (WAL) and PostgreSQL, schema by Alembic.

SQLite allows one writer at a time, so write transactions start with ``BEGIN IMMEDIATE``
(they wait for the lock up front instead of failing half-way) while reads use a second
engine whose transactions never block writers (WAL). PostgreSQL uses one engine and row
locks. A batch is written with a single INSERT ... ON CONFLICT DO NOTHING, so the answer
to a client is given only after that row is committed, and a retried ``batch_id`` is
recognised without a second copy.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Collection, Iterator

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from mathguard.data.moments import Moments
from mathguard.drift import Profile
from mathguard.errors import InputError
from mathguard.monitor import schema as t
from mathguard.monitor.config import engine_url
from mathguard.monitor.events import EventBatch, to_blob
from mathguard.monitor.keys import hash_key, new_key, parse_scopes
from mathguard.monitor.quality import Quality, moments_from_dict


class Conflict(InputError):
    """The request collides with what is stored (HTTP 409)."""


@dataclass(frozen=True)
class Model:
    """A registered model and its reference profile."""

    id: int
    name: str
    n_features: int
    n_classes: int | None
    profile_json: str
    created_at: float
    label_counts_json: str | None = None  # the reference's label distribution, when given at registration

    @cached_property
    def label_counts(self) -> "Any":
        """The reference label distribution for label drift, and where it comes from (given, or the reference's
        predicted classes); (None, reason) when there is neither."""
        import numpy as np

        if self.label_counts_json:
            return np.asarray(orjson.loads(self.label_counts_json), dtype=float), "the registered label counts"
        pred = self.reference.prediction
        if pred is not None and self.n_classes:
            counts = getattr(pred, "counts", {}) or {}
            return (np.asarray([float(counts.get(str(k), 0)) for k in range(self.n_classes)]),
                    "the reference's predicted classes (register label_counts for its true labels)")
        return None, "no reference labels (register label_counts)"

    @cached_property
    def reference(self) -> Profile:
        return Profile.from_dict(orjson.loads(self.profile_json))


# ---------------------------------------------------------------- a stored window row, read back
@dataclass
class Counts:
    """What a window knows besides its profile: labelled events, correct predictions, guard alarms."""

    n_events: int = 0
    n_labeled: int = 0
    n_correct: int = 0
    n_alarm_reported: int = 0
    n_alarms: int = 0

    def __add__(self, other: "Counts") -> "Counts":
        return Counts(*(a + b for a, b in zip(self.as_tuple(), other.as_tuple())))

    def as_tuple(self) -> tuple[int, ...]:
        return (self.n_events, self.n_labeled, self.n_correct, self.n_alarm_reported, self.n_alarms)

    @classmethod
    def of(cls, row: Any) -> "Counts":
        return cls(row.n_events, row.n_labeled, row.n_correct, row.n_alarm_reported, row.n_alarms)


def load_profile(doc: str) -> Profile:
    """A stored profile document (a window's, or a reference's) as a Profile."""
    return Profile.from_dict(orjson.loads(doc))


def row_quality(row: Any) -> Quality:
    """A window row's prediction quality (empty for a row folded before quality was stored)."""
    doc = getattr(row, "quality", None)
    return Quality.from_dict(orjson.loads(doc)) if doc else Quality()


def row_moments(row: Any) -> Moments | None:
    """A window row's feature moments (None when it has none)."""
    doc = getattr(row, "moments", None)
    return moments_from_dict(orjson.loads(doc)) if doc else None


def _sqlite_engine(url: str, immediate: bool) -> Engine:
    engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # the driver's own BEGIN is replaced by ours below
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=30000"):
            dbapi_conn.execute(f"PRAGMA {pragma}")

    if not immediate:
        @sa.event.listens_for(engine, "begin")
        def _begin_read(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN")

        return engine

    # The writers of this process queue on a lock before BEGIN IMMEDIATE and leave it once their COMMIT or
    # ROLLBACK is done: SQLite's own busy handler waits by sleeping (1, 2, 5, ... up to 100 ms a try), which
    # under concurrent ingest made the slowest requests wait for sleeps rather than for the lock; a waiter
    # on this lock takes it as soon as it is free. Other processes on the file still meet SQLite's lock.
    lock = threading.RLock()
    held: set[int] = set()  # DBAPI connections (by id) whose transaction holds the lock
    dialect = engine.dialect
    commit, rollback = dialect.do_commit, dialect.do_rollback

    def _raw(conn: Any) -> int:
        return id(getattr(conn, "dbapi_connection", conn))

    def _release(dbapi_conn: Any) -> None:
        key = _raw(dbapi_conn)
        if key in held:
            held.discard(key)
            lock.release()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        lock.acquire()
        held.add(_raw(conn.connection))
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _release(conn.connection)
            raise

    def _do_commit(dbapi_conn: Any) -> None:
        try:
            commit(dbapi_conn)
        finally:
            _release(dbapi_conn)

    def _do_rollback(dbapi_conn: Any) -> None:
        try:
            rollback(dbapi_conn)
        finally:
            _release(dbapi_conn)

    dialect.do_commit, dialect.do_rollback = _do_commit, _do_rollback  # type: ignore[method-assign]
    return engine


class Store:
    """Everything the API, the worker and the CLI read from or write to the database."""

    def __init__(self, db: str) -> None:
        url = engine_url(db)
        self.dialect = sa.engine.make_url(url).get_backend_name()
        if self.dialect == "sqlite":
            if sa.engine.make_url(url).database in (None, "", ":memory:"):
                raise InputError("an in-memory SQLite database cannot be shared by the server; give a file")
            self.engine = _sqlite_engine(url, immediate=True)
            self.reader = _sqlite_engine(url, immediate=False)
        else:
            self.engine = self.reader = sa.create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
        # PostgreSQL runs each of ingest's single statements (the key lookup, the batch INSERT) as its own
        # transaction: one round trip where BEGIN, the statement and COMMIT/ROLLBACK took three, each of which
        # gave up the interpreter lock and waited to get it back behind the busy threads.
        self._one_write, self._one_read = (self.engine, self.reader) if self.dialect == "sqlite" else (
            (self.engine.execution_options(isolation_level="AUTOCOMMIT"),) * 2)
        self._models: dict[str, Model] = {}  # registered models never change, so lookups are cached
        # The statements every ingest request runs, built once: constructing them per call (coercing a dozen
        # values into bound parameters, then hashing the statement to find its compiled form) cost more CPU
        # than the driver's own work.
        k, b = t.api_keys.c, t.batches.c
        self._scopes_query = sa.select(k.scopes).where(k.key_hash == sa.bindparam("key_hash"), k.revoked_at.is_(None))
        self._insert_batch = self._insert(t.batches).on_conflict_do_nothing(
            index_elements=["model_id", "batch_id"]).returning(b.id)

    def close(self) -> None:
        self.engine.dispose()
        self.reader.dispose()

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision (idempotent)."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    # ------------------------------------------------------------------ keys
    def create_key(self, name: str, scopes: str | list[str]) -> str:
        """A new key with ``scopes``; the key is returned once and only its hash is kept."""
        if not name or len(name) > 100:
            raise InputError("a key needs a name of 1 to 100 characters")
        key, chosen = new_key(), parse_scopes(scopes)
        with self.engine.begin() as conn:
            conn.execute(t.api_keys.insert().values(name=name, prefix=key[:10], key_hash=hash_key(key),
                                                    scopes=",".join(chosen), created_at=time.time()))
        return key

    def scopes(self, key: str) -> set[str] | None:
        """The scopes of a valid, unrevoked key; None for anything else."""
        with self._one_read.connect() as conn:
            row = conn.execute(self._scopes_query, {"key_hash": hash_key(key)}).first()
        return None if row is None else set(row.scopes.split(","))

    def list_keys(self) -> list[dict[str, Any]]:
        with self.reader.connect() as conn:
            rows = conn.execute(sa.select(t.api_keys.c.id, t.api_keys.c.name, t.api_keys.c.prefix,
                                          t.api_keys.c.scopes, t.api_keys.c.created_at,
                                          t.api_keys.c.revoked_at).order_by(t.api_keys.c.id))
            return [dict(r._mapping) for r in rows]

    def revoke_key(self, prefix: str) -> int:
        with self.engine.begin() as conn:
            return conn.execute(t.api_keys.update().where(t.api_keys.c.prefix == prefix,
                                                          t.api_keys.c.revoked_at.is_(None))
                                .values(revoked_at=time.time())).rowcount

    # ---------------------------------------------------------------- models
    def register_model(self, name: str, reference: "Profile | dict[str, Any]", max_models: int,
                       label_counts: list[int] | None = None) -> Model:
        """Store a model with its reference profile (a Profile or its document, checked strictly by
        ``limits.check_profile``) and, optionally, its reference label counts; a taken name is a Conflict."""
        from mathguard.monitor.limits import check_profile, printable

        printable(name, "model name")
        reference = check_profile(reference.to_dict() if isinstance(reference, Profile) else reference)
        if reference.n_rows == 0:
            raise InputError("the reference profile is empty")
        kinds = {f.kind for f in reference.features.values()}
        if kinds != {"numeric"}:
            raise InputError("the monitor accepts reference profiles of numeric features only")
        doc = orjson.dumps(reference.to_dict()).decode()
        labels_doc = None
        if label_counts is not None:
            k = reference.n_classes
            if not isinstance(label_counts, list) or not 2 <= len(label_counts) <= 1000 or not all(
                    type(c) is int and 0 <= c < 2**53 for c in label_counts) or not sum(label_counts):
                raise InputError("label_counts must be a list of 2 to 1000 non-negative integers, not all 0")
            if k is not None and len(label_counts) != k:
                raise InputError(f"label_counts must have one count per class ({k}), got {len(label_counts)}")
            labels_doc = orjson.dumps(label_counts).decode()
        with self.engine.begin() as conn:
            if conn.execute(sa.select(sa.func.count()).select_from(t.models)).scalar_one() >= max_models:
                raise Conflict(f"this server holds at most {max_models} models")
            if conn.execute(sa.select(t.models.c.id).where(t.models.c.name == name)).first():
                raise Conflict(f"model {name!r} is already registered")
            conn.execute(t.models.insert().values(name=name, profile=doc, n_features=len(reference.features),
                                                  n_classes=reference.n_classes, created_at=time.time(),
                                                  label_counts=labels_doc))
        model = self.model(name)
        assert model is not None
        return model

    def known_model(self, name: str) -> Model | None:
        """The model from this store's cache, without asking the database (None when not seen yet)."""
        return self._models.get(name)

    def model(self, name: str) -> Model | None:
        if name not in self._models:
            with self.reader.connect() as conn:
                row = conn.execute(sa.select(t.models).where(t.models.c.name == name)).first()
            if row is None:
                return None
            self._models[name] = self._model(row)
        return self._models[name]

    def models(self) -> list[Model]:
        with self.reader.connect() as conn:
            rows = conn.execute(sa.select(t.models).order_by(t.models.c.name)).all()
        return [self._models.get(r.name) or self._models.setdefault(r.name, self._model(r)) for r in rows]

    @staticmethod
    def _model(row: Any) -> Model:
        return Model(row.id, row.name, row.n_features, row.n_classes, row.profile, row.created_at, row.label_counts)

    # ---------------------------------------------------------------- events
    def insert_batch(self, model: Model, batch: EventBatch, received_at: float) -> bool:
        """Commit one batch; False when this ``batch_id`` was stored before with the same content (nothing
        is written then), a Conflict when it was stored with other content."""
        values = dict(model_id=model.id, batch_id=batch.batch_id, received_at=received_at,
                      content_hash=batch.content_hash or None,
                      first_ts=float(batch.timestamps.min()), last_ts=float(batch.timestamps.max()),
                      n_events=batch.n, features=to_blob(batch.features), proba=to_blob(batch.proba),
                      labels=to_blob(batch.labels, "<i8"), alarms=to_blob(batch.alarms, "u1"),
                      timestamps=to_blob(batch.timestamps))
        with self._one_write.begin() as conn:
            if conn.execute(self._insert_batch, values).first() is not None:
                return True
            b = t.batches.c
            stored = conn.execute(sa.select(b.content_hash).where(b.model_id == model.id,
                                                                  b.batch_id == batch.batch_id)).first()
        if stored is not None and stored.content_hash and batch.content_hash and stored.content_hash != batch.content_hash:
            raise Conflict(f"batch_id {batch.batch_id[:60]!r} was stored before with other content; "
                           "give new events a new batch_id")
        return False

    def _insert(self, table: sa.Table) -> Any:
        if self.dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        else:
            from sqlalchemy.dialects.postgresql import insert
        return insert(table)

    def stats(self, model: Model) -> dict[str, Any]:
        """Events and batches held for ``model`` and the time range they cover."""
        b = t.batches.c
        with self.reader.connect() as conn:
            row = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(b.n_events), 0), sa.func.count(),
                                         sa.func.min(b.first_ts), sa.func.max(b.last_ts),
                                         sa.func.coalesce(sa.func.sum(sa.case((b.folded.is_(False), b.n_events),
                                                                              else_=0)), 0))
                               .where(b.model_id == model.id)).one()
            w = t.windows.c
            windows = conn.execute(sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(w.n_events), 0))
                                   .where(w.model_id == model.id)).one()
        return {"events": int(row[0]), "batches": int(row[1]), "first": row[2], "last": row[3],
                "pending_events": int(row[4]), "windows": int(windows[0]), "profiled_events": int(windows[1])}

    def pending_events(self, exclude: Collection[int] = ()) -> int:
        """Committed events not yet folded into window profiles (the back-pressure queue), leaving out the
        models ``exclude`` (those whose folding failed: their events wait apart and must not stall the rest)."""
        b = t.batches.c
        query = sa.select(sa.func.coalesce(sa.func.sum(b.n_events), 0)).where(b.folded.is_(False))
        if exclude:
            query = query.where(b.model_id.not_in(list(exclude)))
        with self.reader.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def pending_batches(self, max_events: int, exclude: Collection[int] = ()) -> Iterator[Any]:
        """Unfolded batch rows, oldest first, up to about ``max_events`` events (models ``exclude`` left out)."""
        b = t.batches.c
        total = 0
        query = sa.select(t.batches).where(b.folded.is_(False))
        if exclude:
            query = query.where(b.model_id.not_in(list(exclude)))
        with self.reader.connect() as conn:
            for row in conn.execute(query.order_by(b.id)):
                yield row
                total += row.n_events
                if total >= max_events:
                    return

    def purge(self, older_than: float, chunk: int) -> int:
        """Delete folded raw batches received before ``older_than``, ``chunk`` rows per statement."""
        b = t.batches.c
        deleted = 0
        while True:
            ids = sa.select(b.id).where(b.folded.is_(True), b.received_at < older_than).limit(chunk)
            with self.engine.begin() as conn:
                n = conn.execute(t.batches.delete().where(b.id.in_(ids.scalar_subquery()))).rowcount
            deleted += n
            if n < chunk:
                return deleted
