"""The bench's arithmetic and parsing helpers (the bench itself is run by scripts/bench, not here)."""

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
