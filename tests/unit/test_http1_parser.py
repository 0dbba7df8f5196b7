"""The HTTP/1.1 response parser (sidecar/delivery/http1.py) fed bytes directly: framing, limits, faults."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from yarl import URL

from sidecar.delivery import http1
from sidecar.delivery.http1 import InvalidBody, InvalidResponse, NoResponse, Response, ResponseCut

CAP = 65536


@dataclass(frozen=True)
class Parsed:
    status: int | None
    reason: str
    headers: list[tuple[bytes, bytes]]
    body: bytes
    complete: bool
    reusable: bool


def parse(*pieces: bytes, eof: bool = False, cap: int = CAP, picked: frozenset[bytes] = frozenset()) -> Response:
    response = Response(cap, picked)
    for piece in pieces:
        if response.feed(piece):
            break
    if eof:
        response.feed_eof(None)
    return response


def summary(response: Response) -> Parsed:
    return Parsed(response.status, response.reason, response.headers, bytes(response.body),
                  response.complete, response.reusable)


def split_everywhere(raw: bytes) -> list[tuple[bytes, bytes]]:
    return [(raw[:i], raw[i:]) for i in range(1, len(raw))]


SIZED = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"
CHUNKED = (b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n"
           b"5;name=value;flag\r\nhello\r\n6 ; ext\r\n world\r\n0\r\nX-Trailer: t\r\nX-Other: o\r\n\r\n")
INTERIM = (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
           b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


@pytest.mark.parametrize("raw", [SIZED, CHUNKED, INTERIM], ids=["content-length", "chunked", "interim"])
def test_every_split_point_parses_like_one_piece(raw: bytes) -> None:
    whole = summary(parse(raw))
    assert whole.complete and whole.reusable
    for first, second in split_everywhere(raw):
        assert summary(parse(first, second)) == whole, (first, second)


def test_a_byte_at_a_time_parses_like_one_piece() -> None:
    for raw in (SIZED, CHUNKED, INTERIM):
        assert summary(parse(*(raw[i:i + 1] for i in range(len(raw))))) == summary(parse(raw))


def test_content_length_body_and_headers() -> None:
    response = parse(SIZED)
    assert (response.status, response.reason, bytes(response.body)) == (200, "OK", b"hello")
    assert response.headers == [(b"Content-Type", b"text/plain"), (b"Content-Length", b"5")]
    assert response.complete and response.reusable


def test_chunked_with_extensions_and_trailers() -> None:
    response = parse(CHUNKED)
    assert (response.status, bytes(response.body)) == (201, b"hello world")
    assert (b"X-Trailer", b"t") not in response.headers  # trailers are checked, not kept
    assert response.complete and response.reusable


def test_interim_responses_are_skipped() -> None:
    response = parse(INTERIM)
    assert (response.status, bytes(response.body)) == (200, b"ok")
    assert response.headers == [(b"Content-Length", b"2")]


def test_101_without_an_upgrade_is_invalid() -> None:
    with pytest.raises(InvalidResponse, match="101"):
        parse(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n")


def test_endless_interim_responses_are_refused() -> None:
    with pytest.raises(InvalidResponse, match="interim"):
        parse(b"HTTP/1.1 100 Continue\r\n\r\n" * (http1.MAX_INTERIM + 1))


def test_http_1_0_without_length_reads_until_close_and_is_not_reused() -> None:
    response = parse(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall of", b" it", eof=True)
    assert bytes(response.body) == b"all of it"
    assert response.complete and not response.reusable


def test_http_1_0_with_length_is_complete_but_not_reused() -> None:
    response = parse(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
    assert response.complete and not response.reusable


def test_http_1_1_without_length_reads_until_close() -> None:
    response = parse(b"HTTP/1.1 200 OK\r\n\r\nbody", eof=True)
    assert bytes(response.body) == b"body" and response.complete and not response.reusable


def test_a_reset_during_a_close_delimited_body_cuts_it() -> None:
    response = parse(b"HTTP/1.1 200 OK\r\n\r\nbo")
    with pytest.raises(ResponseCut, match="reset") as cut:
        response.feed_eof(ConnectionResetError(104, "Connection reset by peer"))
    assert cut.value.part == "body" and bytes(response.body) == b"bo"


@pytest.mark.parametrize("status", [204, 304])
def test_no_body_statuses_are_empty_whatever_the_headers_say(status: int) -> None:
    response = parse(b"HTTP/1.1 %d X\r\nContent-Length: 10\r\n\r\n" % status)
    assert response.complete and response.reusable and response.body == b""


@pytest.mark.parametrize("connection", [b"close", b"Close", b"keep-alive, close", b"Upgrade,  CLOSE "])
def test_connection_close_is_not_reused(connection: bytes) -> None:
    response = parse(b"HTTP/1.1 200 OK\r\nConnection: " + connection + b"\r\nContent-Length: 0\r\n\r\n")
    assert response.complete and not response.reusable


def test_bytes_after_a_complete_response_make_it_not_reusable() -> None:
    assert not parse(SIZED + b"extra").reusable
    late = parse(SIZED)
    assert late.feed(b"late") and not late.reusable


@pytest.mark.parametrize("length", [b"5, 5", b"5,5"])
def test_agreeing_content_lengths_are_one(length: bytes) -> None:
    response = parse(b"HTTP/1.1 200 OK\r\nContent-Length: " + length + b"\r\n\r\nhello")
    assert response.complete and bytes(response.body) == b"hello"


def test_repeated_agreeing_content_length_headers_are_one() -> None:
    response = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello")
    assert response.complete and bytes(response.body) == b"hello"


@pytest.mark.parametrize("lengths", [
    [b"5", b"6"], [b"5, 6"], [b"-1"], [b"+5"], [b"0x5"], [b"1e3"], [b""], [b"5 5"], [b"9" * 40],
])
def test_bad_or_disagreeing_content_lengths_are_invalid(lengths: list[bytes]) -> None:
    head = b"".join(b"Content-Length: " + value + b"\r\n" for value in lengths)
    with pytest.raises(InvalidResponse, match="Content-Length"):
        parse(b"HTTP/1.1 200 OK\r\n" + head + b"\r\nhello")


def test_a_body_shorter_than_its_content_length_is_cut_at_the_close() -> None:
    response = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf")
    assert not response.done
    with pytest.raises(ResponseCut, match="closed by the peer") as cut:
        response.feed_eof(None)
    assert cut.value.part == "body" and bytes(response.body) == b"half"


def test_transfer_encoding_overrides_content_length_and_is_never_reused() -> None:
    response = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n")
    assert bytes(response.body) == b"ok" and response.complete and not response.reusable


def test_a_transfer_coding_other_than_chunked_last_reads_until_close() -> None:
    response = parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nraw", eof=True)
    assert bytes(response.body) == b"raw" and response.complete and not response.reusable


@pytest.mark.parametrize("size_line", [b"ZZZ", b"", b"0x5", b"-5", b" 5", b"1" * 16, b"5 x"])
def test_invalid_chunk_sizes_are_malformed_bodies(size_line: bytes) -> None:
    with pytest.raises(InvalidBody, match="chunk size"):
        parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + size_line + b"\r\nhello\r\n0\r\n\r\n")


def test_a_chunk_longer_than_its_size_is_a_malformed_body() -> None:
    with pytest.raises(InvalidBody, match="longer than its size"):
        parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n")


def test_an_endless_chunk_size_line_is_refused() -> None:
    with pytest.raises(InvalidBody, match="longer than"):
        parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", b"1" * (http1.MAX_LINE + 2))


def test_a_chunked_body_cut_before_its_last_chunk_is_cut() -> None:
    response = parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
    with pytest.raises(ResponseCut):
        response.feed_eof(None)
    assert bytes(response.body) == b"hello"


def test_a_folded_header_line_is_refused() -> None:
    with pytest.raises(InvalidResponse, match="obs-fold"):
        parse(b"HTTP/1.1 200 OK\r\nX-Long: first\r\n second\r\nContent-Length: 0\r\n\r\n")


@pytest.mark.parametrize("line", [
    b"X-Space : v", b"No colon", b": empty name", b"X-Ctl: a\x01b", b"X-Nul: a\x00b", b"X-Lf: a\nb", b"X(): v",
])
def test_malformed_header_lines_are_invalid(line: bytes) -> None:
    with pytest.raises(InvalidResponse, match="header"):
        parse(b"HTTP/1.1 200 OK\r\n" + line + b"\r\nContent-Length: 0\r\n\r\n")


def test_header_values_lose_surrounding_whitespace_and_keep_obs_text() -> None:
    response = parse(b"HTTP/1.1 200 OK\r\nX-A:  \tv a l\t \r\nX-B:\xe9t\xe9\r\nX-C:\r\nContent-Length: 0\r\n\r\n")
    assert response.headers[:3] == [(b"X-A", b"v a l"), (b"X-B", b"\xe9t\xe9"), (b"X-C", b"")]


@pytest.mark.parametrize("line", [
    b"HTTP/1.1 200", b"HTTP/1.1 200 ", b"HTTP/1.1 599 Whatever it says", b"HTTP/1.0 404 Not\tFound",
])
def test_status_lines_that_are_accepted(line: bytes) -> None:
    assert parse(line + b"\r\nContent-Length: 0\r\n\r\n").complete


@pytest.mark.parametrize("line", [
    b"HTTP/2 200 OK", b"HTTP/1.2 200 OK", b"HTTP/1.1 20 OK", b"HTTP/1.1 2000 OK", b"HTTP/1.1 099 X",
    b"http/1.1 200 OK", b"HTTP/1.1  200 OK", b"\x16\x03\x01 not http at all", b"ICY 200 OK",
])
def test_status_lines_that_are_not_http(line: bytes) -> None:
    with pytest.raises(InvalidResponse, match="status line"):
        parse(line + b"\r\n\r\n")


def test_a_line_over_the_limit_is_refused_before_it_ends() -> None:
    response = Response(CAP)
    response.feed(b"HTTP/1.1 200 OK\r\nX-Long: ")
    with pytest.raises(InvalidResponse, match="longer than"):
        for _ in range(100):
            response.feed(b"a" * 1000)  # never a CRLF: refused within MAX_LINE, not buffered on


def test_a_complete_line_over_the_limit_is_refused() -> None:
    with pytest.raises(InvalidResponse, match="longer than"):
        parse(b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * http1.MAX_LINE + b"\r\n\r\n")


def test_too_many_header_fields_are_refused() -> None:
    fields = b"".join(b"X-%d: v\r\n" % n for n in range(http1.MAX_FIELDS + 1))
    with pytest.raises(InvalidResponse, match="header fields"):
        parse(b"HTTP/1.1 200 OK\r\n" + fields + b"\r\n")


def test_a_head_arriving_in_pieces_keeps_only_the_unfinished_line() -> None:
    response = Response(CAP)
    response.feed(b"HTTP/1.1 200 OK\r\n")
    for n in range(60):
        response.feed(b"X-%d: %s\r\nX-Part" % (n, b"v" * 1000))
        assert response._pending == b"X-Part"
        response.feed(b"ial: p\r\n")
    assert response.feed(b"Content-Length: 0\r\n\r\n") and len(response.headers) == 121


def test_headers_and_body_share_the_cap() -> None:
    raw = b"HTTP/1.1 200 OK\r\nX-A: 12345\r\nX-B: 1234567890\r\nContent-Length: 100\r\n\r\n" + b"b" * 100
    response = parse(raw, cap=40)
    assert response.headers == [(b"X-A", b"12345"), (b"X-B", b"1234567890")]  # 12 + 17 bytes; Content-Length does not fit
    assert response.header_bytes == 29 and bytes(response.body) == b"b" * 11
    assert response.done and not response.complete and not response.reusable


def test_a_body_that_exactly_fills_the_cap_is_complete() -> None:
    response = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody", cap=len("Content-Length") + 1 + 4 + 4)
    assert response.complete and response.reusable and bytes(response.body) == b"body"


def test_picked_and_framing_fields_are_read_past_the_cap() -> None:
    raw = (b"HTTP/1.1 429 Too Many\r\nX-Filler: " + b"f" * 100
           + b"\r\nRetry-After: 7\r\nRetry-After: 8\r\nContent-Length: 0\r\n\r\n")
    response = parse(raw, cap=50, picked=frozenset({b"retry-after"}))
    assert response.headers == [] and response.complete
    assert response.fields[b"retry-after"] == b"7, 8"


def test_nothing_then_a_clean_close_is_no_response() -> None:
    response = Response(CAP)
    with pytest.raises(NoResponse) as raised:
        response.feed_eof(None)
    assert str(raised.value) == ""


def test_a_reset_before_anything_is_no_response_saying_so() -> None:
    with pytest.raises(NoResponse, match="reset by peer"):
        Response(CAP).feed_eof(ConnectionResetError(104, "Connection reset by peer"))


def test_a_partial_status_line_then_close_is_no_response() -> None:
    with pytest.raises(NoResponse):
        parse(b"HTTP/1.1 20", eof=True)


def test_garbage_without_a_line_end_then_close_is_invalid() -> None:
    with pytest.raises(InvalidResponse, match="status line"):
        parse(b"SSH-2.0-OpenSSH", eof=True)


def test_a_close_in_the_middle_of_the_head_cuts_the_head() -> None:
    with pytest.raises(ResponseCut) as cut:
        parse(b"HTTP/1.1 200 OK\r\nContent-Le", eof=True)
    assert cut.value.part == "head"


def test_status_and_headers_appear_only_with_the_whole_head() -> None:
    response = parse(b"HTTP/1.1 500 Oops\r\nX-A: 1\r\n")
    assert response.status is None and response.headers == []
    response.feed(b"Content-Length: 0\r\n\r\n")
    assert (response.status, response.reason) == (500, "Oops")


@pytest.mark.parametrize(("url", "start"), [
    ("http://hooks.example/in?a=1&b=%20", b"POST /in?a=1&b=%20 HTTP/1.1\r\nHost: hooks.example\r\n"),
    ("https://hooks.example:8443/", b"POST / HTTP/1.1\r\nHost: hooks.example:8443\r\n"),
    ("https://hooks.example:443", b"POST / HTTP/1.1\r\nHost: hooks.example\r\n"),
    ("http://[2001:db8::1]:8080/x#frag", b"POST /x HTTP/1.1\r\nHost: [2001:db8::1]:8080\r\n"),
    ("http://b\u00fccher.example/", b"POST / HTTP/1.1\r\nHost: xn--bcher-kva.example\r\n"),
])
def test_the_request_head(url: str, start: bytes) -> None:
    raw = http1.encode_request(URL(url), {"Content-Type": "application/json", "X-Z": "1"}, b"{}")
    assert raw == start + b"Content-Length: 2\r\nContent-Type: application/json\r\nX-Z: 1\r\n\r\n{}"


HEADS = [
    b"HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Thu, 03 Dec 2026 13:40:00 GMT\r\nContent-Length: 2\r\n"
    b"Connection: keep-alive\r\n\r\nok",
    b"HTTP/1.1 503 \r\nRetry-After:  \t 7 \t\r\nX-Empty:\r\nX-Spaces:   \r\nretry-after: 9\r\n"
    b"Content-Length: 0\r\n\r\n",
    b"HTTP/1.0 404 Not Found\r\nX-Obs: caf\xe9 \t\r\nConnection: close\r\n\r\nmissing",
    b"HTTP/1.1 204\r\n\r\n",
]


@pytest.mark.parametrize("cap", [CAP, 40, 8])
@pytest.mark.parametrize("raw", HEADS)
def test_a_head_in_one_read_parses_like_one_line_at_a_time(raw: bytes, cap: int) -> None:
    # One read takes the whole-head match; a byte at a time takes the line path.
    picked = frozenset({b"retry-after", b"date"})
    whole = parse(raw, eof=True, cap=cap, picked=picked)
    pieces = parse(*(raw[i:i + 1] for i in range(len(raw))), eof=True, cap=cap, picked=picked)
    assert whole.status is not None
    assert summary(whole) == summary(pieces)
    assert (whole.header_bytes, whole.fields) == (pieces.header_bytes, pieces.fields)
