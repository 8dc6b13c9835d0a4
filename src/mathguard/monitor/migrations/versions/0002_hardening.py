"""Content hash per batch (409 on a reused batch_id with other content), rule names of 200 characters
(as the API allows), and the durable webhook outbox.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("batches", sa.Column("content_hash", sa.String(64)))
    with op.batch_alter_table("alert_rules") as batch:
        batch.alter_column("name", existing_type=sa.String(100), type_=sa.String(200), existing_nullable=False)
    op.create_table(
        "webhook_outbox",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("event_id", sa.Integer, sa.ForeignKey("alert_events.id", ondelete="CASCADE"), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_at", sa.Double, nullable=False),
        sa.Column("status", sa.Integer),
        sa.Column("error", sa.String(200)),
        sa.Column("updated_at", sa.Double, nullable=False),
    )
    op.create_index("ix_webhook_outbox_due", "webhook_outbox", ["state", "next_at"])
    op.create_index("ix_webhook_outbox_event", "webhook_outbox", ["event_id"])


def downgrade() -> None:
    op.drop_table("webhook_outbox")
    with op.batch_alter_table("alert_rules") as batch:
        batch.alter_column("name", existing_type=sa.String(200), type_=sa.String(100), existing_nullable=False)
    op.drop_column("batches", "content_hash")
