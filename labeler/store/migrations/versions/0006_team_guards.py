"""Schema 6: on PostgreSQL, what the server itself guarantees to a team (see
:mod:`labeler.store.dialects.postgresql_team`): the change-notification triggers on the project's
hashed channel, the triggers that record who wrote a point or a claim and set the versions, and
the row-level security policies. A new project gets the same objects from ``labeler init``.

SQLite projects have nothing to add (one person at a time; no roles): only the version moves.
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        from labeler.store.dialects.postgresql_team import install_guards

        install_guards(bind)


def downgrade() -> None:
    raise NotImplementedError("labeler never downgrades a project")
