"""Schema 2: who confirmed each point, and a version per point row for optimistic concurrency.

``point.version`` grows by one with every write of the row; an edit made from an older version
is refused (someone else changed the point meanwhile). ``point.annotator`` is the person who
last confirmed it (NULL for predictions and for points confirmed before schema 2).
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ALTER TABLE ... ADD COLUMN on both backends: never a batch copy (see versions/README.md).
    op.add_column("point", sa.Column("version", sa.Integer(), nullable=False, server_default=sa.text("1")))
    op.add_column("point", sa.Column("annotator", sa.String(), nullable=True))


def downgrade() -> None:
    raise NotImplementedError("labeler never downgrades a project")
