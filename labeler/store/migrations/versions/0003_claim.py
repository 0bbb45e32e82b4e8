"""Schema 3: claims, so two annotators do not label the same image at once.

A claim is held for a few minutes and renewed while its holder works; a crashed client's claim
simply expires. "Next to review" skips images claimed by someone else.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "claim",
        sa.Column("image_id", sa.Integer(), sa.ForeignKey("image.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("user", sa.String(), nullable=False),
        sa.Column("claimed_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
    )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":  # others see claims change live, as they see points
        schema = bind.execute(sa.text("SELECT current_schema()")).scalar_one()
        channel = f"labeler_{schema}".replace("'", "''")
        op.execute(
            "CREATE TRIGGER labeler_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON claim "
            f"FOR EACH STATEMENT EXECUTE FUNCTION labeler_notify('{channel}')"
        )


def downgrade() -> None:
    raise NotImplementedError("labeler never downgrades a project")
