"""Schema 1: the project as labeler wrote it before Alembic (the baseline).

Projects are created from the model (``Base.metadata.create_all``) and stamped with the newest
revision, so there is nothing to create here: a schema-1 project found without an
``alembic_version`` table is stamped ``0001`` and upgraded from there.
"""

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    raise NotImplementedError("labeler never downgrades a project")
