"""JSON read for display is cut at a bounded depth, so no stored row can crash a reader."""

from __future__ import annotations

import json

from sidecar import jsondepth, render


def test_a_value_too_deep_to_parse_becomes_the_cut_marker() -> None:
    assert jsondepth.loads("[" * 100_000 + "]" * 100_000) == jsondepth.CUT


def test_deep_values_are_cut_below_max_depth_and_render_in_both_forms() -> None:
    value = jsondepth.loads('{"a": ' + "[" * 500 + "]" * 500 + "}")
    assert "nested deeper than 100 levels" in render.as_json(value)
    assert render.cell(value).startswith('{"a": [[')
    depth, node = 0, value
    while isinstance(node, dict | list):
        node = next(iter(node.values())) if isinstance(node, dict) else node[0]
        depth += 1
    assert (depth, node) == (jsondepth.MAX_DEPTH, jsondepth.CUT)


def test_shallow_values_are_returned_unchanged() -> None:
    text = json.dumps({"wide": [{"k": [1, 2]} for _ in range(300)], "deep": [[[[[]]]]]})
    assert jsondepth.loads(text) == json.loads(text)
    assert jsondepth.loads(text.encode()) == json.loads(text)

