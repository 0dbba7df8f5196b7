"""JSON read for display is cut at a bounded depth, so no stored row can crash a reader."""

from __future__ import annotations

import json

from sidecar import jsondepth
from sidecar.ops import render


def _depth_and_leaf(value: object) -> tuple[int, object]:
    depth, node = 0, value
    while isinstance(node, dict | list):
        node = next(iter(node.values())) if isinstance(node, dict) else node[0]
        depth += 1
    return depth, node


def test_a_value_too_deep_to_parse_is_cut_not_lost() -> None:
    assert _depth_and_leaf(jsondepth.loads("[" * 100_000 + "]" * 100_000)) == (jsondepth.MAX_DEPTH, jsondepth.CUT)


def test_a_row_keeps_its_shallow_fields_beside_a_deep_one() -> None:
    row = jsondepth.loads('{"id": "x", "body": ' + "[" * 5000 + "]" * 5000 + ', "note": "a [ { \\" b"}')
    assert (row["id"], row["note"]) == ("x", 'a [ { " b')
    assert _depth_and_leaf(row["body"]) == (jsondepth.MAX_DEPTH - 1, jsondepth.CUT)


def test_deep_values_are_cut_below_max_depth_and_render_in_both_forms() -> None:
    value = jsondepth.loads('{"a": ' + "[" * 500 + "]" * 500 + "}")
    assert "nested deeper than 100 levels" in render.as_json(value)
    assert render.cell(value).startswith('{"a": [[')
    assert _depth_and_leaf(value) == (jsondepth.MAX_DEPTH, jsondepth.CUT)


def test_shallow_values_are_returned_unchanged() -> None:
    text = json.dumps({"wide": [{"k": [1, 2]} for _ in range(300)], "deep": [[[[[]]]]]})
    assert jsondepth.loads(text) == json.loads(text)
    assert jsondepth.loads(text.encode()) == json.loads(text)

