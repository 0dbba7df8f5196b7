"""The OpenAPI document lists exactly the routes the server has, with their methods."""

from __future__ import annotations

import re

from sidecar.api import openapi
from sidecar.api.auth import Authenticator
from sidecar.api.postgrest import PostgrestApiStore
from sidecar.api.server import build_app
from sidecar.api.store import RPCS
from sidecar.store.queries import parse

DASHBOARD_PAGES = {"/", "/rules/{routing_rule_id}"}


def router_routes() -> set[tuple[str, str]]:
    app = build_app(PostgrestApiStore("https://x.supabase.co", "anon"), Authenticator(None, None), {})
    routes = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter") or info.get("prefix")
        if route.method in ("HEAD",) or path in DASHBOARD_PAGES or path.startswith("/assets"):
            continue
        routes.add((route.method.lower(), path))
    return routes


def document_routes() -> set[tuple[str, str]]:
    return {(method, path) for path, ops in openapi.document()["paths"].items() for method in ops}


def test_the_document_and_the_router_have_the_same_routes() -> None:
    assert document_routes() == router_routes()


def test_the_document_is_openapi_3_with_bearer_auth_and_error_responses() -> None:
    doc = openapi.document()
    assert doc["openapi"].startswith("3.")
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for path, ops in doc["paths"].items():
        for op in ops.values():
            if path.startswith("/api/v1/webhooks"):
                assert {"400", "401", "403", "404", "429"} <= set(op["responses"]), path
            for name in re.findall(r"{(\w+)}", path):
                assert any(p["name"] == name and p["in"] == "path" for p in op["parameters"]), (path, name)


def test_queries_sql_and_the_rpc_table_agree_on_names_and_arity() -> None:
    from importlib import resources

    sql = parse(resources.files("sidecar.api").joinpath("queries.sql").read_text())
    assert set(sql) - {"act_as"} == set(RPCS)
    for name, rpc in RPCS.items():
        assert f"public.{name}(" in sql[name]
        assert len(set(re.findall(r"\$(\d+)", sql[name]))) == len(rpc.params), name
