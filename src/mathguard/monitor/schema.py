"""The tables, as the code sees them; ``migrations/`` creates them (a test checks the two agree).

Raw events are stored columnar, one row per acknowledged batch (float64 / int64 arrays as
bytes), so one INSERT commits a whole batch and ``(model_id, batch_id)`` being unique makes
retries idempotent. ``windows`` holds one mergeable drift profile per model and window:
queries read those, never the raw events.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

api_keys = sa.Table(
    "api_keys", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("prefix", sa.String(16), nullable=False),  # shown in listings; the key itself is never stored
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("scopes", sa.String(100), nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("revoked_at", sa.Double),
)

models = sa.Table(
    "models", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("profile", sa.Text, nullable=False),  # the reference, as mathguard.profile/1 JSON
    sa.Column("n_features", sa.Integer, nullable=False),
    sa.Column("n_classes", sa.Integer),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("label_counts", sa.Text),  # JSON list: the reference's label distribution (label drift), optional
)

batches = sa.Table(
    "batches", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=False),
    sa.Column("batch_id", sa.String(200), nullable=False),
    sa.Column("received_at", sa.Double, nullable=False),
    sa.Column("first_ts", sa.Double, nullable=False),
    sa.Column("last_ts", sa.Double, nullable=False),
    sa.Column("n_events", sa.Integer, nullable=False),
    sa.Column("features", sa.LargeBinary, nullable=False),
    sa.Column("proba", sa.LargeBinary),
    sa.Column("labels", sa.LargeBinary),
    sa.Column("alarms", sa.LargeBinary),
    sa.Column("timestamps", sa.LargeBinary),
    sa.Column("folded", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("content_hash", sa.String(64)),  # SHA-256 of the content: a reused batch_id with other content is a 409
    sa.UniqueConstraint("model_id", "batch_id", name="uq_batches_model_batch"),
    sa.Index("ix_batches_folded", "folded", "id"),
    sa.Index("ix_batches_received", "received_at"),
)

windows = sa.Table(
    "windows", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=False),
    sa.Column("resolution", sa.Integer, nullable=False),
    sa.Column("start", sa.BigInteger, nullable=False),
    sa.Column("n_events", sa.BigInteger, nullable=False),
    sa.Column("n_labeled", sa.BigInteger, nullable=False),
    sa.Column("n_correct", sa.BigInteger, nullable=False),
    sa.Column("n_alarm_reported", sa.BigInteger, nullable=False),
    sa.Column("n_alarms", sa.BigInteger, nullable=False),
    sa.Column("profile", sa.Text, nullable=False),
    sa.Column("drift", sa.Text),  # cached summary against the reference, valid while drift_events == n_events
    sa.Column("drift_events", sa.BigInteger),
    sa.Column("quality", sa.Text),  # JSON of quality.Quality (mergeable), null for windows folded before 0003
    sa.Column("moments", sa.Text),  # JSON of the first features' Moments (count, mean, cross-products)
    sa.UniqueConstraint("model_id", "resolution", "start", name="uq_windows_model_res_start"),
)

alert_rules = sa.Table(
    "alert_rules", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("metric", sa.String(40), nullable=False),
    sa.Column("op", sa.String(2), nullable=False),
    sa.Column("threshold", sa.Double, nullable=False),
    sa.Column("window_s", sa.Integer, nullable=False),
    sa.Column("for_s", sa.Integer, nullable=False),
    sa.Column("webhooks", sa.Text, nullable=False),  # JSON list of URLs
    sa.Column("state", sa.String(10), nullable=False),  # ok | pending | firing
    sa.Column("state_since", sa.Double, nullable=False),
    sa.Column("value", sa.Double),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.UniqueConstraint("model_id", "name", name="uq_alert_rules_model_name"),
)

alert_events = sa.Table(
    "alert_events", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("rule_id", sa.Integer, sa.ForeignKey("alert_rules.id", ondelete="CASCADE"), nullable=False),
    sa.Column("status", sa.String(10), nullable=False),  # firing | resolved
    sa.Column("at", sa.Double, nullable=False),
    sa.Column("value", sa.Double),
    sa.Column("deliveries", sa.Text, nullable=False),  # JSON (rows before the outbox); now read from webhook_outbox
    sa.Index("ix_alert_events_rule", "rule_id", "id"),
)

webhook_outbox = sa.Table(  # one row per (transition, webhook), written in the transition's transaction
    "webhook_outbox", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("event_id", sa.Integer, sa.ForeignKey("alert_events.id", ondelete="CASCADE"), nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("state", sa.String(10), nullable=False),  # pending | sending | delivered | failed
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_at", sa.Double, nullable=False),  # when a pending row is due, or a sending row's lease ends
    sa.Column("status", sa.Integer),  # last HTTP status
    sa.Column("error", sa.String(200)),  # last transport error or policy refusal
    sa.Column("updated_at", sa.Double, nullable=False),
    sa.Index("ix_webhook_outbox_due", "state", "next_at"),
    sa.Index("ix_webhook_outbox_event", "event_id"),
)

run_steps = sa.Table(  # training runs: one row per step, its metrics as JSON (null where a value was not finite)
    "run_steps", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=False),
    sa.Column("run", sa.String(200), nullable=False),
    sa.Column("step", sa.BigInteger, nullable=False),
    sa.Column("at", sa.Double, nullable=False),
    sa.Column("metrics", sa.Text, nullable=False),
    sa.UniqueConstraint("model_id", "run", "step", name="uq_run_steps_model_run_step"),
)
