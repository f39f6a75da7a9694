import json
from pathlib import Path

import pytest

from addon.upstream.cooldown import parse_duration, parse_retry_after, read_fault

UPSTREAM = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "upstream"


@pytest.mark.parametrize("text,seconds", [("47s", 47), ("1.5s", 1.5), ("2h37m22.77s", 9442.77),
                                          ("500ms", 0.5), ("3m", 180)])
def test_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "47", "s", "4x7s", "47s junk"])
def test_bad_durations(text):
    assert parse_duration(text) is None


def test_retry_after_header_forms():
    assert parse_retry_after("12") == 12
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480) == pytest.approx(10)
    assert parse_retry_after("soon") is None


def test_gemini_429_fixture_reads_retry_info():
    fault = read_fault(429, {}, (UPSTREAM / "error_429.json").read_bytes())
    assert fault.retry_after_s == 47
    assert fault.google_status == "RESOURCE_EXHAUSTED"
    assert fault.per_model


def test_cloudcode_quota_prefers_quota_reset_delay():
    body = (UPSTREAM / "error_429_cloudcode_quota.json").read_bytes()
    doc = json.loads(body)
    delay = next(d["metadata"]["quotaResetDelay"] for d in doc["error"]["details"]
                 if d.get("metadata", {}).get("quotaResetDelay"))
    fault = read_fault(429, {}, body)
    assert fault.reason == "QUOTA_EXHAUSTED"
    assert fault.retry_after_s == pytest.approx(parse_duration(delay))


def test_array_wrapped_stream_error():
    fault = read_fault(429, {}, (UPSTREAM / "error_429_cloudcode_capacity_stream.json").read_bytes())
    assert fault.reason == "MODEL_CAPACITY_EXHAUSTED"
    assert "capacity" in fault.message


def test_header_hint_and_message_hint():
    assert read_fault(503, {"retry-after": "3"}, b"{}").retry_after_s == 3
    body = json.dumps({"error": {"code": 429, "message": "Please retry in 1.5s."}}).encode()
    assert read_fault(429, {}, body).retry_after_s == 1.5
    assert read_fault(500, {}, b"not json").message == "not json"


def test_fault_kinds_pick_the_default_ladder():
    quota = read_fault(429, {}, (UPSTREAM / "error_429_cloudcode_quota.json").read_bytes())
    assert quota.kind == "quota" and quota.per_model and quota.retry_after_s == pytest.approx(581981.3, abs=1)
    day = read_fault(429, {}, (UPSTREAM / "error_429.json").read_bytes())
    assert day.kind == "quota" and "GenerateRequestsPerDayPerProjectPerModel-FreeTier" in day.quota_ids
    capacity = read_fault(429, {}, (UPSTREAM / "error_429_cloudcode_capacity_stream.json").read_bytes())
    assert capacity.kind == "capacity" and capacity.retry_after_s is None
    assert read_fault(503, {}, b"{}").kind == "server" and read_fault(401, {}, b"{}").kind == "auth"


def test_quota_reset_time_stamp_without_delay():
    body = {"error": {"code": 429, "message": "m", "details": [{
        "@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "QUOTA_EXHAUSTED",
        "metadata": {"quotaResetTimeStamp": "2999-01-01T00:00:00Z"}}]}}
    fault = read_fault(429, {}, json.dumps(body).encode())
    assert fault.retry_after_s > 10 * 365 * 86400, "a real reset far away is not capped"
