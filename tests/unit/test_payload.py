"""Body bytes from Postgres' canonical jsonb text: whitespace outside strings removed, nothing else."""

from __future__ import annotations

import json

from sidecar.delivery.payload import compact_jsonb_text


def test_separator_spaces_are_removed() -> None:
    assert compact_jsonb_text('{"a": 1, "b": [1, 2]}') == b'{"a":1,"b":[1,2]}'


def test_spaces_inside_strings_are_kept() -> None:
    assert compact_jsonb_text('{"a b": "c, d: e"}') == b'{"a b":"c, d: e"}'


def test_escaped_quotes_do_not_end_a_string() -> None:
    text = r'{"q": "say \"hi, there\" ok", "n": 1}'
    assert compact_jsonb_text(text) == rb'{"q":"say \"hi, there\" ok","n":1}'


def test_escaped_backslash_before_closing_quote() -> None:
    text = r'{"p": "C:\\", "x": [1, 2]}'
    assert compact_jsonb_text(text) == rb'{"p":"C:\\","x":[1,2]}'


def test_numbers_are_kept_exactly_as_written() -> None:
    text = '{"big": 123456789012345678901234567890, "f": 1.50, "e": 1e+100, "neg": -0.0}'
    assert compact_jsonb_text(text) == b'{"big":123456789012345678901234567890,"f":1.50,"e":1e+100,"neg":-0.0}'


def test_non_ascii_is_utf8_encoded() -> None:
    assert compact_jsonb_text('{"name": "Jérôme 日本 🎉"}') == '{"name":"Jérôme 日本 🎉"}'.encode()


def test_unicode_escapes_are_left_alone() -> None:
    assert compact_jsonb_text('{"a": "\\u0000 \\n"}') == b'{"a":"\\u0000 \\n"}'


def test_nested_and_empty_values() -> None:
    text = '{"a": {}, "b": [], "c": "", "d": [{"e": null, "f": true}]}'
    assert compact_jsonb_text(text) == b'{"a":{},"b":[],"c":"","d":[{"e":null,"f":true}]}'


def test_result_is_the_same_json_value() -> None:
    text = '{"type": "lead.created", "data": {"lead": {"x y": [1, 2.5, "a\\"b"]}}}'
    assert json.loads(compact_jsonb_text(text)) == json.loads(text)


def test_already_compact_text_is_unchanged() -> None:
    assert compact_jsonb_text('{"a":1}') == b'{"a":1}'


def test_whitespace_escapes_and_raw_tabs_inside_strings_survive() -> None:
    assert compact_jsonb_text('{"a": "x\\t y\\n", "b": "tab\there"}') == b'{"a":"x\\t y\\n","b":"tab\there"}'


def test_newlines_and_tabs_between_tokens_are_removed() -> None:
    assert compact_jsonb_text('{\n\t"a":\r\n 1\n}') == b'{"a":1}'


def test_fast_path_agrees_with_the_scanner_on_escape_free_text() -> None:
    # Texts without backslashes or raw line breaks take the split path; the scanner is the reference.
    from sidecar.delivery.payload import _KEPT

    texts = [
        '{"a": "b, c: d", "e": [1, 2, {"f": " "}], "g": null}',
        '{"": "", " ": " ,", "k": ": :"}',
        '{"name": "Jérôme 日本 🎉", "n": -1.5e+10}',
        '[]', '{}', '"just a string, with: separators"',
    ]
    for text in texts:
        assert compact_jsonb_text(text) == "".join(_KEPT.findall(text)).encode("utf-8")
