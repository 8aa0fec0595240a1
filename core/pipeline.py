"""A transaction's statements sent together.

On PostgreSQL each statement waits for the server's answer before the next goes: a registration's
``BEGIN`` and three inserts were four round trips before its ``COMMIT``, each costing both
processes a wake-up. In psycopg's pipeline mode they go out together and their answers come back
together at the end of the block: one round trip. An error (a name taken meanwhile) is raised
there, still inside the transaction, which then rolls back as it would have. The block ends
before the commit, so that what runs after a commit (``on_commit``) never runs in it. SQLite runs
in the process: nothing to join there.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def statements_together(connection: Any) -> Iterator[None]:
    """Send the statements run in this block in one round trip where the database allows it
    (PostgreSQL; not for ``COPY``, which pipeline mode refuses). Use it inside the transaction:
    errors come at the end of the block, where the transaction can still roll back."""
    if connection.vendor != "postgresql":
        yield
        return
    connection.ensure_connection()
    with connection.connection.pipeline():
        yield
