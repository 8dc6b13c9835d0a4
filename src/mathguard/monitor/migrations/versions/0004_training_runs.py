"""Training runs as monitored objects: one row per (model, run, step) with that step's metrics.

Revision ID: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "run_steps",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=False),
        sa.Column("run", sa.String(200), nullable=False),
        sa.Column("step", sa.BigInteger, nullable=False),
        sa.Column("at", sa.Double, nullable=False),
        sa.Column("metrics", sa.Text, nullable=False),
        sa.UniqueConstraint("model_id", "run", "step", name="uq_run_steps_model_run_step"),
    )


def downgrade() -> None:
    op.drop_table("run_steps")
