"""Alembic's entry point: always runs on the connection (and transaction) the store hands it."""

from alembic import context

from labeler.store.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=False,  # never copy tables: see versions/README.md
)
with context.begin_transaction():
    context.run_migrations()
