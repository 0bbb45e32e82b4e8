"""Schema 4: a file replaced by another picture is noticed.

``image.mtime_ns`` records each file's modification time (NULL until the first check hashes the
file once); ``image.changed`` says the file now holds another picture than the one labelled
(a replacement of the same size was never noticed before: the sha256 was recorded, not checked).
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ALTER TABLE ... ADD COLUMN on both backends: never a batch copy (see versions/README.md).
    op.add_column("image", sa.Column("mtime_ns", sa.BigInteger(), nullable=True))
    op.add_column("image", sa.Column("changed", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    raise NotImplementedError("labeler never downgrades a project")
