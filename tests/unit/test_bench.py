"""The bench's arithmetic and parsing helpers (the bench itself is run by scripts/bench, not here)."""

import json

import pytest

from addon import bench


def test_percentile_interpolates_between_ranks():
    values = [4.0, 1.0, 3.0, 2.0]
    assert bench.percentile(values, 0) == 1.0
    assert bench.percentile(values, 50) == 2.5
    assert bench.percentile(values, 100) == 4.0
    assert bench.percentile(list(range(101)), 99) == 99
    assert bench.percentile([7.0], 99) == 7.0
    assert bench.percentile([], 50) is None
    with pytest.raises(ValueError):
        bench.percentile([1.0], 101)


def test_summarize():
    s = bench.summarize([1.0, 2.0, 3.0])
    assert s["n"] == 3 and s["p50"] == 2.0 and s["max"] == 3.0 and s["mean"] == 2.0
    assert bench.summarize([])["p99"] is None


def test_fmt_ms():
    assert bench.fmt_ms(None) == "–"
    assert bench.fmt_ms(1.234) == "1.23"
    assert bench.fmt_ms(123.45) == "123.5"
    assert bench.fmt_ms(1234.5, signed=True) == "+1,234"
    assert bench.fmt_ms(-0.5, signed=True) == "-0.50"


def test_sse_lines_stamp_data_lines_split_across_chunks():
    reply = bench.Reply("m", 0.0)
    feed = bench.SseLines(reply).feed
    feed(b'data: {"a"')
    feed(b': 1}\r\n\r\nda')
    feed(b'ta: {"finishReason": "STOP"}\r\n\r\n')
    assert len(reply.events) == 2 and reply.finished and reply.t_first == reply.events[0]


def test_event_delays_match_by_model_and_count_retries():
    a, b = bench.Reply("m-a", 0.0, events=[10.0, 10.5]), bench.Reply("m-b", 0.0, events=[11.0])
    c = bench.Reply("m-c", 0.0, events=[12.0])
    log = [
        {"model": "m-b", "status": 429, "fault": "error:429", "event_times": []},
        {"model": "m-b", "status": 200, "fault": None, "event_times": [10.999]},
        {"model": "m-a", "status": 200, "fault": None, "event_times": [9.999, 10.498]},
        {"model": "m-c", "status": 200, "fault": None, "event_times": [11.0, 11.5]},  # count differs
    ]
    delays, unmatched, retried = bench.event_delays([a, b, c], log)
    assert [round(d, 6) for d in delays] == [1.0, 2.0, 1.0]
    assert unmatched == 1 and retried == 1


def test_report_rows_compute_added():
    def phase(ttfb, target="direct"):
        return bench.Phase(target=target, requests=2, concurrency=1, wall_s=1.0, ttfb_ms=ttfb, total_ms=ttfb,
                           delay_ms=[0.5], events_delivered=100, errors=[], unmatched=0, retried=0,
                           gateway_cpu_s=0.05 if target == "gateway" else None, sim_cpu_s=0.0, client_cpu_s=0.0,
                           gateway_rss_mib=None, client_connections=1)

    rows = bench.report_rows({"stream c1": {"direct": phase([1.0, 1.0]), "gateway": phase([3.0, 3.0], "gateway")}})
    first = rows[0]
    assert first["metric"] == "TTFB p50" and first["added"] == 2.0
    assert first["gateway_cpu"] == "500 µs/ev, 25.0 ms/stream"
    assert {r["metric"] for r in rows} >= {"event delay p99", "stream total p50"}


def test_anthropic_lines_stamp_text_deltas_only():
    reply = bench.Reply("m", 0.0)
    lines = bench.AnthropicLines(reply)
    lines.feed(b'event: message_start\ndata: {"type":"message_start","message":{}}\n\n'
               b'event: content_block_start\ndata: {"type":"content_block_start","index":0}\n\n'
               b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
               b'"delta":{"type":"text_delta","text":"a"}}\n\n', now=1.0)
    lines.feed(b'event: ping\ndata: {"type":"ping"}\n\nevent: content_block_delta\ndata: {"type":"content_bl',
               now=2.0)
    lines.feed(b'ock_delta","index":0,"delta":{"type":"text_delta","text":"b"}}\n\n', now=3.0)
    lines.feed(b'event: content_block_delta\ndata: {"type":"content_block_delta","index":1,'
               b'"delta":{"type":"thinking_delta","thinking":"x"}}\n\n', now=4.0)
    assert reply.events == [1.0, 3.0] and reply.t_first == 1.0 and not reply.finished
    lines.feed(b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
               b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"}}\n\n'
               b'event: message_stop\ndata: {"type":"message_stop"}\n\n', now=5.0)
    assert reply.finished and reply.stream_error is None and reply.events == [1.0, 3.0]


def test_anthropic_lines_report_error_events_and_mislabelled_data():
    reply = bench.Reply("m", 0.0)
    bench.AnthropicLines(reply).feed(
        b'event: error\r\ndata: {"type":"error","error":{"type":"overloaded_error","message":"busy"}}\r\n\r\n')
    assert "overloaded_error" in reply.stream_error and not reply.finished
    reply = bench.Reply("m", 0.0)
    bench.AnthropicLines(reply).feed(b'event: message_stop\ndata: {"type":"ping"}\n\n')
    assert reply.stream_error == "event: message_stop carries type 'ping'"
    reply = bench.Reply("m", 0.0, status=200)
    assert bench.check(reply, None) is None
    reply.stream_error = "boom"
    assert bench.check(reply, None) == "boom"


def test_openai_lines_stamp_content_chunks_and_need_done_after_finish():
    reply = bench.Reply("m", 0.0)
    lines = bench.OpenAiLines(reply)
    head = b'"id":"c","object":"chat.completion.chunk","created":1,"model":"m"'
    lines.feed(b'data: {' + head + b',"choices":[{"index":0,"delta":{"role":"assistant","content":""},'
               b'"finish_reason":null}]}\n\ndata: {' + head + b',"choices":[{"index":0,"delta":{"content":"a"},'
               b'"finish_reason":null}]}\n\n', now=1.0)
    lines.feed(b': keep-alive\n\ndata: {' + head + b',"choices":[{"index":0,"delta":{"content":"b"},'
               b'"finish_reason":null}]}\n\ndata: {' + head + b',"choices":[{"index":0,"delta":{},'
               b'"finish_reason":"stop"}]}\n\n', now=2.0)
    assert reply.events == [1.0, 2.0] and not reply.finished
    lines.feed(b'data: [DONE]\n\n', now=3.0)
    assert reply.finished and reply.t_first == 1.0 and reply.stream_error is None


def test_openai_lines_error_chunk_and_done_without_finish():
    reply = bench.Reply("m", 0.0)
    bench.OpenAiLines(reply).feed(b'data: {"error":{"message":"upstream stream ended","code":502}}\n\n'
                                  b'data: [DONE]\n\n')
    assert not reply.finished and "upstream stream ended" in reply.stream_error and reply.events == []


def test_wires_build_each_protocols_request():
    path, body = bench.WIRES["anthropic"].request("gemini-2.5-flash-bench-1", "hi", stream=True)
    doc = json.loads(body)
    assert path == "/v1/messages" and doc["stream"] is True and doc["max_tokens"] > 0
    assert doc["messages"] == [{"role": "user", "content": "hi"}]
    path, body = bench.WIRES["openai"].request("gemini-2.5-flash-bench-1", "hi", stream=False)
    assert path == "/v1/chat/completions" and json.loads(body)["stream"] is False
    path, _ = bench.WIRES["gemini"].request("gemini-2.5-flash-bench-1", "hi", stream=True)
    assert path == "/v1beta/models/gemini-2.5-flash-bench-1:streamGenerateContent?alt=sse"
    assert bench.WIRES["anthropic"].headers("k")["x-api-key"] == "k"
    assert bench.WIRES["openai"].headers("k") == {"Authorization": "Bearer k"}


def test_protocol_option():
    assert bench.make_plan(bench.parse_args([])).protocols == ("gemini",)
    assert bench.make_plan(bench.parse_args(["--protocol", "all", "--quick"])).protocols == bench.PROTOCOLS
    with pytest.raises(SystemExit):
        bench.parse_args(["--protocol", "grpc"])
