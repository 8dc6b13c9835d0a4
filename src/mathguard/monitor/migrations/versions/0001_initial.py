"""Initial schema: keys, models, batches (columnar raw events), window profiles, alert rules and history.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("scopes", sa.String(100), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("revoked_at", sa.Double),
    )
    op.create_table(
        "models",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("profile", sa.Text, nullable=False),
        sa.Column("n_features", sa.Integer, nullable=False),
        sa.Column("n_classes", sa.Integer),
        sa.Column("created_at", sa.Double, nullable=False),
    )
    op.create_table(
        "batches",
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
        sa.UniqueConstraint("model_id", "batch_id", name="uq_batches_model_batch"),
    )
    op.create_index("ix_batches_folded", "batches", ["folded", "id"])
    op.create_index("ix_batches_received", "batches", ["received_at"])
    op.create_table(
        "windows",
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
        sa.Column("drift", sa.Text),
        sa.Column("drift_events", sa.BigInteger),
        sa.UniqueConstraint("model_id", "resolution", "start", name="uq_windows_model_res_start"),
    )
    op.create_table(
        "alert_rules",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("metric", sa.String(40), nullable=False),
        sa.Column("op", sa.String(2), nullable=False),
        sa.Column("threshold", sa.Double, nullable=False),
        sa.Column("window_s", sa.Integer, nullable=False),
        sa.Column("for_s", sa.Integer, nullable=False),
        sa.Column("webhooks", sa.Text, nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("state_since", sa.Double, nullable=False),
        sa.Column("value", sa.Double),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.UniqueConstraint("model_id", "name", name="uq_alert_rules_model_name"),
    )
    op.create_table(
        "alert_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("rule_id", sa.Integer, sa.ForeignKey("alert_rules.id", ondelete="CASCADE"), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("at", sa.Double, nullable=False),
        sa.Column("value", sa.Double),
        sa.Column("deliveries", sa.Text, nullable=False),
    )
    op.create_index("ix_alert_events_rule", "alert_events", ["rule_id", "id"])


def downgrade() -> None:
    for table in ("alert_events", "alert_rules", "windows", "batches", "models", "api_keys"):
        op.drop_table(table)
