"""SQLSTATEs worth retrying, for both stores: one list, whichever way the database is reached."""

from __future__ import annotations

# Connection exceptions (class 08), the server shutting down or starting up, too many
# connections, out of memory, serialization failure and deadlock.
TRANSIENT_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300", "53400", "40001", "40P01"})


def is_transient_sqlstate(sqlstate: str | None) -> bool:
    """Whether an error with this SQLSTATE may succeed when the same call is made again."""
    return bool(sqlstate) and (sqlstate in TRANSIENT_SQLSTATES or str(sqlstate).startswith("08"))
