from addon.protocols.sse import SSEDecoder, SSEEvent, encode

STREAM = (b"event: a\r\ndata: {\"x\": 1}\r\n\r\n"
          b": comment\n\ndata: line1\ndata: line2\n\n"
          b"data: cr\r\r"
          b"{\n  \"error\": {\"code\": 503}\n}\n"
          b"data: tail")
EXPECTED = [SSEEvent('{"x": 1}', "a"), SSEEvent("line1\nline2"), SSEEvent("cr"),
            SSEEvent('{\n  "error": {"code": 503}\n}', raw=True), SSEEvent("tail")]


def decode(chunks):
    d = SSEDecoder()
    out = []
    for c in chunks:
        out += d.feed(c)
    return out + d.close()


def test_whole_stream():
    assert decode([STREAM]) == EXPECTED


def test_split_at_every_byte_boundary():
    for i in range(len(STREAM) + 1):
        assert decode([STREAM[:i], STREAM[i:]]) == EXPECTED, i


def test_one_byte_at_a_time():
    assert decode([STREAM[i:i + 1] for i in range(len(STREAM))]) == EXPECTED


def test_crlf_split_between_cr_and_lf_is_one_line_end():
    assert decode([b"data: a\r", b"\n\r", b"\ndata: b\r\n\r\n"]) == [SSEEvent("a"), SSEEvent("b")]


def test_multibyte_utf8_split():
    raw = "data: é✓\n\n".encode()
    for i in range(len(raw) + 1):
        assert decode([raw[:i], raw[i:]]) == [SSEEvent("é✓")]


def test_encode():
    assert encode('{"a":1}', "message_start") == b'event: message_start\ndata: {"a":1}\n\n'
    assert encode("x", eol=b"\r\n") == b"data: x\r\n\r\n"
