"""Rewrite supabase/schema.sql from a throwaway database with every migration applied."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sidecar.ops.embedded import LocalCluster, free_port  # noqa: E402
from tests.pg import admin, prepare  # noqa: E402
from tests.schema_dump import SCHEMA_FILE, dump_schema  # noqa: E402


def main() -> None:
    cluster = LocalCluster(root=Path(tempfile.mkdtemp(prefix="webhooks-schema-")), port=free_port())
    cluster.ensure_started()
    try:
        asyncio.run(admin(cluster, "create database schema_dump"))
        asyncio.run(prepare(cluster.dsn("schema_dump")))
        SCHEMA_FILE.write_text(dump_schema(cluster.dsn("schema_dump")), encoding="utf-8")
    finally:
        cluster.destroy()
    print(f"wrote {SCHEMA_FILE}")


if __name__ == "__main__":
    main()
