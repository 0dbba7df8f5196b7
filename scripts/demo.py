"""The tour README's first command gives: leads delivered, a retry that then succeeds, a replay, stats.

At the end it leaves three processes running in the background, so the dashboard can
be opened at once: `webhook-sidecar serve` (with a demo JWT secret, and a sign-in
link printed for the demo owner), `webhook-sidecar run`, and a receiver answering 200
on the demo's port. `bash scripts/demo.sh --stop` stops them (their pids are in
WEBHOOK_DATA_DIR/demo.pids).

Everything runs on this machine: the embedded PostgreSQL under WEBHOOK_DATA_DIR
(default .webhooks), a demo receiver on 127.0.0.1 that checks every signature with
the standardwebhooks library, and the sidecar's worker. Private targets are allowed
for this run only, because the receiver listens on loopback.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import jwt
from aiohttp import web
from standardwebhooks import Webhook

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sidecar.cli import first_attempt, start_embedded  # noqa: E402
from sidecar.delivery.attempt import Deliverer  # noqa: E402
from sidecar.ops import render  # noqa: E402
from sidecar.settings import Settings, load_settings  # noqa: E402
from sidecar.store.direct import DirectStore  # noqa: E402
from sidecar.worker.loop import Worker, WorkerOptions  # noqa: E402

FLAKY_LEAD = "Grace Hopper"
LEADS = [
    {"name": "Ada Lovelace", "email": "ada@example.com", "source": "ads"},
    {"name": FLAKY_LEAD, "email": "grace@example.com", "source": "newsletter"},
    {"name": "Alan Turing", "email": "alan@example.com", "source": "ads"},
    {"name": "Katherine Johnson", "email": "katherine@example.com", "source": "referral"},
]


def heading(text: str) -> None:
    print(f"\n== {text} " + "=" * max(0, 74 - len(text)))


# -- the receiver ---------------------------------------------------------------------


@dataclass
class DemoReceiver:
    """Verifies each request's signature; answers 500 the first time it sees the flaky lead."""

    secrets: dict[str, str] = field(default_factory=dict)  # path -> whsec_ secret
    failed_once: bool = False
    seen: list[dict[str, Any]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            event = Webhook(self.secrets[request.path]).verify(body, dict(request.headers))
        except Exception as exc:  # noqa: BLE001 - any verification failure is a 401 here
            self.seen.append({"path": request.path, "verified": False, "error": str(exc)})
            return web.Response(status=401, text="bad signature")
        name = event["data"]["lead"].get("name")
        self.seen.append({"path": request.path, "verified": True, "lead": name,
                          "webhook_id": request.headers["webhook-id"]})
        if name == FLAKY_LEAD and not self.failed_once:
            self.failed_once = True
            return web.Response(status=500, text="database hiccup, try again")
        return web.json_response({"received": name})


async def start_receiver(receiver: DemoReceiver, port: int = 0) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_post("/{client}", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    await web.SockSite(runner, sock).start()
    return runner, f"http://127.0.0.1:{sock.getsockname()[1]}"


async def receive_forever(port: int) -> None:
    """The receiver left running after the tour, for replays and tests sent from the dashboard."""
    class Always(DemoReceiver):
        async def handle(self, request: web.Request) -> web.Response:
            await request.read()
            return web.json_response({"received": True})

    await start_receiver(Always(), port)
    await asyncio.Event().wait()


# -- the demo data ----------------------------------------------------------------------


@dataclass
class Demo:
    owner_id: UUID
    funnel_id: UUID
    rules: dict[str, UUID]  # client name -> rule id


async def create_funnel(conn: asyncpg.Connection, base_url: str) -> Demo:
    owner = await conn.fetchval(
        "insert into auth.users (id, email) values (gen_random_uuid(), 'owner@example.com') returning id")
    funnel = await conn.fetchval(
        "insert into funnels (owner_id, name, status) values ($1, 'Spring webinar', 'active') returning id", owner)
    rules = {}
    for client, path, condition in (("Acme CRM", "/acme", {}), ("Ads sheet", "/ads", {"source": "ads"})):
        rules[client] = await conn.fetchval(
            "insert into routing_rules (funnel_id, client_name, webhook_url, condition)"
            " values ($1, $2, $3, $4::jsonb) returning id", funnel, client, base_url + path, json.dumps(condition))
    return Demo(owner, funnel, rules)


async def configure(store: DirectStore, demo: Demo, receiver: DemoReceiver) -> None:
    for client, rule_id in demo.rules.items():
        config = await store.update_config(rule_id, {"custom_headers": {"Authorization": "Bearer demo-token"}})
        path = "/acme" if client == "Acme CRM" else "/ads"
        receiver.secrets[path] = str(config["signing_secret"])


async def insert_leads(conn: asyncpg.Connection, demo: Demo) -> None:
    await conn.execute(
        "insert into leads (funnel_id, data) select $1, d from jsonb_array_elements($2::jsonb) d",
        demo.funnel_id, json.dumps(LEADS))


# -- running the worker ------------------------------------------------------------------


async def unfinished(conn: asyncpg.Connection, demo: Demo) -> int:
    count: int = await conn.fetchval(
        "select count(*) from webhook_queue where routing_rule_id = any($1::uuid[])"
        " and status not in ('completed', 'failed')", list(demo.rules.values()))
    return count


async def deliver_all(store: DirectStore, conn: asyncpg.Connection, demo: Demo, settings: Settings) -> None:
    async with Deliverer(allow_private_targets=True, max_response_bytes=settings.max_response_bytes) as deliverer:
        worker = Worker(store, deliverer, WorkerOptions.from_settings(settings))
        running = asyncio.create_task(worker.run())
        try:
            async with asyncio.timeout(60):
                while await unfinished(conn, demo):
                    await asyncio.sleep(0.1)
        finally:
            worker.stop()
            await running


# -- showing what happened -------------------------------------------------------------------


async def show_deliveries(conn: asyncpg.Connection, demo: Demo) -> list[asyncpg.Record]:
    rows = await conn.fetch(
        "select l.id, l.created_at, r.client_name, l.request_body -> 'data' -> 'lead' ->> 'name' as lead,"
        " l.attempt_number, l.max_attempts, l.status, l.response_status, l.duration_ms, l.error_message,"
        " l.parent_log_id, l.webhook_id, l.request_headers"
        " from webhook_logs l join routing_rules r on r.id = l.routing_rule_id"
        " where l.routing_rule_id = any($1::uuid[]) order by l.created_at", list(demo.rules.values()))
    print(render.table([_log_row(r) for r in rows], (
        ("time", "time"), ("client_name", "client"), ("lead", "lead"), ("attempt", "attempt"),
        ("status", "status"), ("response_status", "http"), ("duration_ms", "ms"), ("error_message", "error"))))
    return rows


def _log_row(row: asyncpg.Record) -> dict[str, Any]:
    return {**dict(row), "time": row["created_at"].strftime("%H:%M:%S.%f")[:-3],
            "attempt": f"{row['attempt_number']}/{row['max_attempts']}"}


def show_retry_chain(rows: list[asyncpg.Record]) -> asyncpg.Record:
    chain = [r for r in rows if r["lead"] == FLAKY_LEAD and r["client_name"] == "Acme CRM"]
    for r in chain:
        parent = f" (retry of {str(r['parent_log_id'])[:8]}…)" if r["parent_log_id"] else ""
        print(f"  log {str(r['id'])[:8]}…  attempt {r['attempt_number']}: {r['status']:<8} "
              f"HTTP {r['response_status']}{parent}")
    gap = (chain[1]["created_at"] - chain[0]["created_at"]).total_seconds()
    print(f"  the second attempt came {gap:.1f} s after the first (config: retry_delay_ms 1000, jitter ≤ 10 %)")
    print(f"  same webhook-id on both: {chain[0]['webhook_id']}")
    headers = json.loads(chain[0]["request_headers"])
    print(f"  logged Authorization header: {headers.get('Authorization')!r} (the receiver got the real one)")
    return chain[-1]


async def show_replay(store: DirectStore, log: asyncpg.Record, settings: Settings,
                      receiver: DemoReceiver) -> None:
    queue_id = await store.replay(log["id"])
    async with Deliverer(allow_private_targets=True) as deliverer:
        row = await first_attempt(store, queue_id, deliverer, settings)
    print(f"  replayed log {log['id']}")
    print(f"  new attempt {row['id']}: {row['status']}, HTTP {row['response_status']}, "
          f"is_retry={row['is_retry']}, parent_log_id={row['parent_log_id']}")
    print(f"  webhook-id kept: {row['webhook_id'] == str(log['webhook_id'])}; "
          f"receiver verified the signature: {receiver.seen[-1]['verified']}")


async def show_stats(store: DirectStore, demo: Demo) -> None:
    rows = [{"client": client, **await store.stats(rule_id, 7)} for client, rule_id in demo.rules.items()]
    print(render.table(rows, (("client", "client"), ("total_calls", "calls"), ("success_calls", "ok"),
                              ("failed_calls", "failed"), ("avg_duration_ms", "avg ms"),
                              ("success_rate", "success %"))))


# -- the dashboard, left running -------------------------------------------------------------


def _pid_file(settings: Settings) -> Path:
    return Path(settings.data_dir) / "demo.pids"


def stop_background(settings: Settings) -> int:
    """Stop what an earlier tour left running (serve, run, the receiver); how many were running."""
    path = _pid_file(settings)
    stopped = 0
    for pid in (int(p) for p in (path.read_text().split() if path.is_file() else [])):
        if not _is_ours(pid):
            continue  # gone, and its pid perhaps reused by another program: leave that alone
        os.kill(pid, signal.SIGTERM)
        stopped += 1
    path.unlink(missing_ok=True)
    return stopped


def _is_ours(pid: int) -> bool:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"webhook-sidecar" in command or b"demo.py" in command


def _spawn(args: list[str], env: dict[str, str], log: Path) -> int:
    with open(log, "ab") as out:
        return subprocess.Popen(args, env=env, stdout=out, stderr=out, stdin=subprocess.DEVNULL,
                                start_new_session=True).pid


def start_dashboard(settings: Settings, dsn: str, base_url: str, owner: UUID) -> str:
    """serve + run + receiver in the background; the owner's sign-in link."""
    secret = secrets.token_urlsafe(32)  # this demo's SUPABASE_JWT_SECRET, known only to serve
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "DATABASE_URL": dsn, "SUPABASE_JWT_SECRET": secret, "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true"}
    data = Path(settings.data_dir)
    pids = [_spawn([str(bin_dir / "webhook-sidecar"), "serve"], env, data / "demo-serve.log"),
            _spawn([str(bin_dir / "webhook-sidecar"), "run"], env, data / "demo-run.log"),
            _spawn([sys.executable, __file__, "--receive", base_url.rsplit(":", 1)[1]], env, data / "demo-receiver.log")]
    _pid_file(settings).write_text(" ".join(map(str, pids)))
    url = f"http://{settings.http_host}:{settings.http_port}"
    _wait_healthy(url, data / "demo-serve.log")
    token = jwt.encode({"sub": str(owner), "role": "authenticated", "aud": "authenticated",
                        "exp": int(time.time()) + 86400}, secret, algorithm="HS256")
    return f"{url}/#token={token}"


def _wait_healthy(url: str, log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit(f"webhook-sidecar serve did not start on {url}; see {log}")


def show_next_steps(demo: Demo, dsn: str) -> None:
    acme = demo.rules["Acme CRM"]
    print(f"""
The embedded database keeps running ({dsn}). Try:
  .venv/bin/webhook-sidecar logs --rule {acme}
  .venv/bin/webhook-sidecar stats {acme}
  .venv/bin/webhook-sidecar config {acme}
  .venv/bin/webhook-sidecar queue
  .venv/bin/webhook-sidecar doctor""")


# -- the tour ---------------------------------------------------------------------------------------


async def tour() -> None:
    os.environ["WEBHOOK_ALLOW_PRIVATE_TARGETS"] = "true"  # this process only: the receiver is on loopback
    settings = load_settings()
    stop_background(settings)  # an earlier tour's dashboard holds the port
    heading("1. Embedded PostgreSQL, migrations applied")
    dsn = await start_embedded(settings)
    store, conn = await DirectStore.connect(dsn), await asyncpg.connect(dsn)
    receiver = DemoReceiver()
    runner, base_url = await start_receiver(receiver)
    try:
        demo = await _tour_steps(store, conn, receiver, base_url, settings, dsn)
    finally:
        await runner.cleanup()
        await conn.close()
        await store.close()
    heading("7. The dashboard (webhook-sidecar serve), left running")
    link = start_dashboard(settings, dsn, base_url, demo.owner_id)
    print(f"  open {link}")
    print(f"  (the demo owner's sign-in link; their Acme CRM rule: {link.split('/#')[0]}/rules/{demo.rules['Acme CRM']})")
    print("  a worker and a receiver run too, so Replay and Send test work;")
    print("  stop the three with: bash scripts/demo.sh --stop")


async def _tour_steps(store: DirectStore, conn: asyncpg.Connection, receiver: DemoReceiver,
                      base_url: str, settings: Settings, dsn: str) -> Demo:
    heading(f"2. Demo receiver on {base_url}, a funnel with two routing rules")
    demo = await create_funnel(conn, base_url)
    await configure(store, demo, receiver)
    print("  Acme CRM   -> every lead      ->", base_url + "/acme")
    print("  Ads sheet  -> source = 'ads'  ->", base_url + "/ads")
    heading(f"3. {len(LEADS)} leads inserted; the worker delivers them")
    await insert_leads(conn, demo)
    await deliver_all(store, conn, demo, settings)
    rows = await show_deliveries(conn, demo)
    verified = sum(1 for s in receiver.seen if s["verified"])
    print(f"  receiver: {len(receiver.seen)} requests, {verified} with a valid Standard Webhooks signature")
    heading(f"4. The retry: {FLAKY_LEAD} got a 500 first, then went through")
    last = show_retry_chain(rows)
    heading("5. A replay of that delivery")
    await show_replay(store, last, settings, receiver)
    heading("6. Stats (get_webhook_stats, last 7 days)")
    await show_stats(store, demo)
    show_next_steps(demo, dsn)
    return demo


if __name__ == "__main__":
    if sys.argv[1:2] == ["--stop"]:
        print(f"stopped {stop_background(load_settings())} background process(es) of the demo")
    elif sys.argv[1:2] == ["--receive"]:
        asyncio.run(receive_forever(int(sys.argv[2])))
    else:
        asyncio.run(tour())
