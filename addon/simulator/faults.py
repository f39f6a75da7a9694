"""Fault injection chosen by the API key a request carries.

The gateway picks a key per account, so a test that wants "this account is rate limited twice,
then fine" creates an account whose key says so. The grammar, parsed here and nowhere else:

    key    := "sim-" fault *("-" fault) ["_" label]
    fault  := action ["x" TIMES] | "retry" DURATION | "retry-after"
    action := CODE                      answer that HTTP error (400 401 403 404 408 429 499 500
                                        502 503 504), body shaped like the real one
            | "quota"                   429 per-day quota exhausted (clients treat it as terminal)
            | "cut" N                   stream: close the connection after N events
            | "eof" N                   stream: end the body cleanly after N events, no finishReason
            | "midstream-error" N       stream: after N events write a raw 503 error object
            | "midstream-internal" N    the same with 500 INTERNAL
            | "stall" N                 stream: after N events send nothing until the client leaves
            | "slow-first-byte-" N "ms" wait N ms before the status line
            | "silent-" N "ms"          send the headers, then nothing for N ms
            | "limited" DURATION        429 per-minute rate limit for DURATION from the key's first
                                        generate request; RetryInfo says the time left
            | "exhausted" DURATION      429 per-day quota for DURATION from the first request, ditto
    DURATION := digits ["." digits] ("s" | "ms")    -> RetryInfo.retryDelay on this key's errors
                                                   (`limited`/`exhausted` also take "m" and "h")
    "retry-after"                       also send a `Retry-After` header (whole seconds)

`x TIMES` limits an action to the first TIMES generate requests made with that key (counted per
key per simulator instance, reset by `POST /__sim/reset`); without it the action is permanent.
When several error or stream actions apply to one request, the first written wins, so
`sim-429x2-503x1` answers 429, 429, 503, then normally. The label after `_` is ignored; it only
makes keys distinct so their counters are too. Any other token is an error, reported as a 400,
so a typo never passes silently as "no fault".
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

PREFIX = "sim-"
ERROR_CODES = frozenset({400, 401, 403, 404, 408, 429, 499, 500, 502, 503, 504})
STREAM_KINDS = frozenset({"cut", "eof", "midstream", "stall"})
WINDOW_KINDS = {"limited": "status", "exhausted": "quota"}  # window → the error it answers
_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}

_TOKEN = re.compile(r"""
    (?: (?P<code>\d{3})
      | (?P<quota>quota)
      | (?P<stream>cut|eof|stall)(?P<events>\d+)
      | midstream-(?P<mid>error|internal)(?P<mid_events>\d+)
      | slow-first-byte-(?P<slow>\d+)ms
      | silent-(?P<silent>\d+)ms
    ) (?:x(?P<times>\d+))? (?=-|$)
  | (?P<window>limited|exhausted)(?P<wnum>\d+(?:\.\d+)?)(?P<wunit>ms|s|m|h)(?=-|$)
  | retry-after(?P<retry_after>)(?=-|$)
  | retry(?P<delay>\d+(?:\.\d+)?)(?P<unit>ms|s)(?=-|$)
""", re.VERBOSE)


class FaultSyntaxError(ValueError):
    """A `sim-` key that does not follow the grammar."""


@dataclass(frozen=True)
class Fault:
    kind: str  # "status", "quota", "cut", "eof", "midstream", "stall", "slow", "silent"
    value: int  # HTTP code, event count or milliseconds, by kind
    times: int | None = None
    code: int | None = None  # the error a midstream fault writes

    def applies(self, index: int) -> bool:
        return self.times is None or index < self.times


@dataclass(frozen=True)
class FaultSpec:
    faults: tuple[Fault, ...]
    retry_delay: str | None = None
    retry_after: bool = False


@dataclass(frozen=True)
class Plan:
    """What happens to one request: at most one error, one stream fault, and delays."""

    error: Fault | None = None
    stream: Fault | None = None
    first_byte_ms: int = 0
    silent_ms: int = 0
    retry_delay: str | None = None
    retry_after: bool = False


NO_FAULT = Plan()


def parse_fault_key(key: str) -> FaultSpec | None:
    """The faults a key asks for, or None for an ordinary key."""
    if not key.startswith(PREFIX):
        return None
    spec, _, _label = key[len(PREFIX):].partition("_")
    faults: list[Fault] = []
    retry_delay, retry_after, pos = None, False, 0
    while pos < len(spec):
        m = _TOKEN.match(spec, pos)
        if not m:
            bad = spec[pos:].split("-", 1)[0] or spec[pos:]
            raise FaultSyntaxError(f"unknown fault {bad!r} in simulator key {key!r}")
        g = m.groupdict()
        times = int(g["times"]) if g["times"] else None
        if g["code"]:
            if int(g["code"]) not in ERROR_CODES:
                raise FaultSyntaxError(f"unsupported status {g['code']} in simulator key {key!r}")
            faults.append(Fault("status", int(g["code"]), times))
        elif g["quota"]:
            faults.append(Fault("quota", 429, times))
        elif g["stream"]:
            faults.append(Fault(g["stream"], int(g["events"]), times))
        elif g["mid"]:
            code = 503 if g["mid"] == "error" else 500
            faults.append(Fault("midstream", int(g["mid_events"]), times, code))
        elif g["slow"]:
            faults.append(Fault("slow", int(g["slow"]), times))
        elif g["silent"]:
            faults.append(Fault("silent", int(g["silent"]), times))
        elif g["window"]:
            faults.append(Fault(g["window"], int(float(g["wnum"]) * _MS[g["wunit"]])))
        elif g["retry_after"] is not None:
            retry_after = True
        else:
            retry_delay = duration(g["delay"], g["unit"])
        pos = m.end() + 1
    return FaultSpec(tuple(faults), retry_delay, retry_after)


def duration(number: str, unit: str) -> str:
    """A proto Duration JSON string: seconds with up to 9 fractional digits ("3s", "0.5s")."""
    seconds = float(number) / (1000 if unit == "ms" else 1)
    text = f"{seconds:.9f}".rstrip("0").rstrip(".")
    return text + "s"


def plan_for(spec: FaultSpec, index: int, elapsed_ms: float = 0.0) -> Plan:
    """The plan for the `index`-th (0-based) generate request made with the key, `elapsed_ms`
    after its first one."""
    active: list[Fault] = []
    retry_delay = spec.retry_delay
    for f in spec.faults:
        if f.kind in WINDOW_KINDS:
            if elapsed_ms < f.value:
                active.append(Fault(WINDOW_KINDS[f.kind], 429))
                retry_delay = duration(f"{f.value - elapsed_ms:.3f}", "ms")
        elif f.applies(index):
            active.append(f)
    return Plan(
        error=next((f for f in active if f.kind in ("status", "quota")), None),
        stream=next((f for f in active if f.kind in STREAM_KINDS), None),
        first_byte_ms=sum(f.value for f in active if f.kind == "slow"),
        silent_ms=sum(f.value for f in active if f.kind == "silent"),
        retry_delay=retry_delay,
        retry_after=spec.retry_after,
    )


@dataclass
class FaultBook:
    """Per-key request counters for one simulator instance."""

    counts: dict[str, int] = field(default_factory=dict)
    first_seen: dict[str, float] = field(default_factory=dict)
    clock: Callable[[], float] = time.monotonic

    def take(self, key: str) -> Plan:
        """Plans the next generate request for `key` and counts it; raises FaultSyntaxError."""
        spec = parse_fault_key(key)
        if spec is None:
            return NO_FAULT
        index = self.counts.get(key, 0)
        self.counts[key] = index + 1
        first = self.first_seen.setdefault(key, self.clock())
        return plan_for(spec, index, (self.clock() - first) * 1000)

    def reset(self) -> None:
        self.counts.clear()
        self.first_seen.clear()
