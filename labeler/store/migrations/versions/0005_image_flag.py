"""Schema 5: ``image.flag``, the image-level status an annotator sets with one key (skip, no
object, flag for later); NULL for none.

The column carries its CHECK constraint: plain SQL that both backends accept in
``ALTER TABLE ... ADD COLUMN`` (never a batch copy, see versions/README.md).
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE image ADD COLUMN flag VARCHAR CONSTRAINT image_flag "
        "CHECK (flag IS NULL OR flag IN ('skip', 'no_object', 'later'))"
    )


def downgrade() -> None:
    raise NotImplementedError("labeler never downgrades a project")
