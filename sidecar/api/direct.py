"""The API over DATABASE_URL (or the embedded cluster): each call is a transaction run as the caller.

Like PostgREST: `set local role` (authenticated for a JWT, anon for an API key), the
JWT's claims in request.jwt.claims, the key in request.headers, then one api_*
function. The pool's login only needs to be allowed to switch to those roles.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import asyncpg

from sidecar import jsondepth
from sidecar.api.auth import Caller
from sidecar.api.errors import ApiError
from sidecar.api.store import RPCS, pgrst_error, refusal, sqlstate_status
from sidecar.store import plain, plain_row
from sidecar.store.queries import parse

log = logging.getLogger("sidecar.api")
POOL_MAX = 8


def _queries() -> dict[str, str]:
    from importlib import resources

    return parse(resources.files("sidecar.api").joinpath("queries.sql").read_text(encoding="utf-8"))


async def _init(conn: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=json.dumps, decoder=jsondepth.loads, schema="pg_catalog")


def session_settings(caller: Caller) -> tuple[str, str, str]:
    """(role, request.jwt.claims, request.headers) for the caller, as PostgREST would set them."""
    if caller.is_key:
        return "anon", json.dumps({"role": "anon"}), json.dumps({"x-api-key": caller.token})
    return "authenticated", json.dumps(caller.claims), "{}"


class DirectApiStore:
    transport = "direct"

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._sql = _queries()

    @classmethod
    async def connect(cls, dsn: str) -> DirectApiStore:
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=POOL_MAX, init=_init,
                                         server_settings={"application_name": "webhook-sidecar serve",
                                                          "TimeZone": "UTC"})
        return cls(pool)

    async def call(self, caller: Caller, name: str, args: Mapping[str, Any]) -> Any:
        rpc = RPCS[name]
        values = [args.get(p) for p in rpc.params]  # jsonb values go through the pool's codec
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute(self._sql["act_as"], *session_settings(caller))
                if rpc.returns == "rows":
                    return [plain_row(r) for r in await conn.fetch(self._sql[name], *values)]
                return plain(await conn.fetchval(self._sql[name], *values))
        except asyncpg.PostgresError as exc:
            raise _translated(exc) from exc
        except (OSError, asyncpg.InterfaceError) as exc:
            raise ApiError(503, "the database is unreachable; try again shortly") from exc

    async def ping(self) -> None:
        async with self._pool.acquire() as conn:
            await conn.fetchval("select 1")

    async def close(self) -> None:
        await self._pool.close()


def _translated(exc: asyncpg.PostgresError) -> ApiError:
    if exc.sqlstate == "PGRST":
        return pgrst_error(str(getattr(exc, "message", exc)), getattr(exc, "detail", None))
    status = sqlstate_status(exc.sqlstate or "")
    if status >= 500:
        log.error("api call failed: %s %s", exc.sqlstate, exc)
    return refusal(status, str(getattr(exc, "message", exc)))
