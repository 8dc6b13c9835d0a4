"""Per-window quality and linear algebra (mergeable: confusion matrix, reliability bins, entropy sum; count, mean
and centred cross-product matrix of the first features), and a model's optional reference label counts.

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("models", sa.Column("label_counts", sa.Text))
    op.add_column("windows", sa.Column("quality", sa.Text))
    op.add_column("windows", sa.Column("moments", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("windows") as batch:
        batch.drop_column("moments")
        batch.drop_column("quality")
    with op.batch_alter_table("models") as batch:
        batch.drop_column("label_counts")
