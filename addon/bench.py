"""What the gateway adds over the simulator called directly:
`scripts/bench [--quick] [--protocol gemini|anthropic|openai|all] [--json FILE]`.

One run starts the simulator (`python -m addon.simulator`) and the gateway exactly as users run
it (`mitmdump -q -s addon/gateway.py --mode reverse:<sim>@127.0.0.1:<port>`, a temporary home
with two Gemini API-key accounts), then measures, direct (client → simulator) and via the gateway
(client → gateway → simulator), a stream at concurrency 1, 10 and 100, non-streamed latency, and,
in a second gateway whose first account always answers 429, the TTFB of a stream the gateway had
to retry. Method: mitmproxy-design.md §0.

Client protocols (`--protocol`, default gemini): the client speaks Gemini
(`:streamGenerateContent?alt=sse`), Anthropic Messages (`POST /v1/messages`, `stream: true`) or
OpenAI Chat Completions (`POST /v1/chat/completions`, `stream: true`) to the gateway. The direct
baseline is always the Gemini request to the simulator, the upstream call the gateway really
makes, so "added" includes the translation. With several protocols each load level measures
direct once, then the gateway in every protocol, and prints one table per protocol.

* TTFB: request start → the first answer-text event received (Gemini: the first `data:` line;
  Anthropic: the first `content_block_delta` with a `text_delta`; OpenAI: the first chunk whose
  `delta.content` is not empty).
* Per-event delay: receive time − the time the simulator logged for that event (`/__sim/log`
  `event_times`, CLOCK_MONOTONIC, which is system-wide on Linux, so the two processes compare).
  The k-th answer-text event the client receives is matched to the k-th event the simulator
  sent; a stream whose count differs (a translator that merged or split events) is counted as
  unmatched rather than guessed. Each request asks for its own model name
  (`gemini-2.5-flash-bench-<n>`): the gateway passes an unknown `gemini-` name through unchanged
  in every protocol (checked at start with `POST /v1/models/detect`), the simulator serves it
  and logs it, so the log record of every request is found by name, whatever order requests
  arrived in.
* Gateway CPU: utime+stime of the mitmdump process (/proc/PID/stat) over the measured phase
  (plus a short settle), ÷ events delivered.

The client is raw asyncio streams (HTTP/1.1, keep-alive pool, no connection cap), a few µs per
event, so it does not bottleneck; still, client, simulator and gateway share the machine's cores,
so at c100 the numbers rank rather than measure. No timing is asserted anywhere.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import json
import math
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
GATEWAY_KEY = "sk-bench"
RETRY_KEY = "sim-429-retry30s_bench"  # always 429 with retryDelay 30s: the gateway fails over
MODEL = "gemini-2.5-flash"
HEALTH_TIMEOUT_S = 30.0
SETTLE_S = 0.3  # after a measured phase, so the gateway's tail work is counted in its CPU


# --- statistics --------------------------------------------------------------------------------

def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0–100) with linear interpolation between ranks (numpy's default)."""
    if not values:
        return None
    if not 0 <= q <= 100:
        raise ValueError(f"percentile wants 0..100, got {q}")
    data = sorted(values)
    pos = (len(data) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def summarize(values: Sequence[float]) -> dict[str, float | int | None]:
    """n, p50, p95, p99, mean and max of `values` (None for each when empty)."""
    return {"n": len(values), "p50": percentile(values, 50), "p95": percentile(values, 95),
            "p99": percentile(values, 99), "mean": sum(values) / len(values) if values else None,
            "max": max(values) if values else None}


def fmt_ms(value: float | None, signed: bool = False) -> str:
    """Milliseconds for the table: 3 significant-ish digits, thousands separated."""
    if value is None:
        return "–"
    sign = "+" if signed and value >= 0 else ""
    mag = abs(value)
    digits = 2 if mag < 100 else 1 if mag < 1000 else 0
    return f"{sign}{value:,.{digits}f}"


# --- a cheap HTTP/1.1 client -------------------------------------------------------------------

@dataclass
class Reply:
    """One request as the client saw it; times are time.monotonic() seconds."""

    model: str
    t0: float
    status: int = 0
    t_first: float | None = None  # first `data:` line (streams) or the end of the body
    t_end: float | None = None
    events: list[float] = field(default_factory=list)  # receive time of each `data:` line
    finished: bool = False  # the stream ended the way its protocol ends a complete answer
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    stream_error: str | None = None  # an error event inside a 200 stream

    @property
    def ttfb(self) -> float | None:
        return None if self.t_first is None else self.t_first - self.t0

    @property
    def total(self) -> float | None:
        return None if self.t_end is None else self.t_end - self.t0


class SseLines:
    """Splits a byte stream into lines and stamps every answer-text event with its arrival time.

    Gemini: every `data:` line is one event; the stream is finished when the last one carried a
    `finishReason`. Subclasses read the other protocols; `now` is for tests.
    """

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self._tail = b""

    def feed(self, data: bytes, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        lines = (self._tail + data).split(b"\n")
        self._tail = lines.pop()
        for line in lines:
            self.line(line.rstrip(b"\r"), now)

    def line(self, line: bytes, now: float) -> None:
        if line.startswith(b"data:"):
            self.stamp(now)
            self.reply.finished = b'"finishReason"' in line

    def stamp(self, now: float) -> None:
        if not self.reply.events:
            self.reply.t_first = now
        self.reply.events.append(now)


class AnthropicLines(SseLines):
    """Anthropic Messages SSE: `event: <type>` + `data: <json>`; events are `text_delta`s.

    Finished at `message_stop`; an `error` event, or an `event:` name that disagrees with its
    data's `type`, is the reply's `stream_error`.
    """

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply)
        self._event: str | None = None

    def line(self, line: bytes, now: float) -> None:
        if line.startswith(b"event:"):
            self._event = line[6:].strip().decode()
            return
        if not line.startswith(b"data:"):
            if not line:
                self._event = None
            return
        doc = json.loads(line[5:])
        kind = doc.get("type")
        if self._event is not None and self._event != kind:
            self.reply.stream_error = self.reply.stream_error or f"event: {self._event} carries type {kind!r}"
        if kind == "content_block_delta":
            delta = doc.get("delta") or {}
            if delta.get("type") == "text_delta" and delta.get("text"):
                self.stamp(now)
        elif kind == "message_stop":
            self.reply.finished = True
        elif kind == "error":
            self.reply.stream_error = f"error event: {json.dumps(doc.get('error'))[:160]}"


class OpenAiLines(SseLines):
    """OpenAI chat.completion.chunk SSE: `data: <json>` … `data: [DONE]`; events are chunks with
    non-empty `delta.content`. Finished when a `finish_reason` came and then `[DONE]`."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply)
        self._finish = False

    def line(self, line: bytes, now: float) -> None:
        if not line.startswith(b"data:"):
            return
        payload = line[5:].strip()
        if payload == b"[DONE]":
            self.reply.finished = self._finish
            return
        doc = json.loads(payload)
        if "error" in doc:
            self.reply.stream_error = f"error chunk: {json.dumps(doc['error'])[:160]}"
        text = False
        for choice in doc.get("choices") or ():
            text = text or bool((choice.get("delta") or {}).get("content"))
            self._finish = self._finish or bool(choice.get("finish_reason"))
        if text:
            self.stamp(now)


class HttpClient:
    """HTTP/1.1 over asyncio streams with a keep-alive pool and no cap on connections."""

    def __init__(self, port: int, headers: dict[str, str] | None = None) -> None:
        self.port = port
        self.extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.opened = 0

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for _, writer in idle:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def request(self, method: str, target: str, body: bytes, model: str = "",
                      sse: type[SseLines] | None = None, timeout_s: float = 600.0) -> Reply:
        """`sse`: read a 200 body as a stream with this parser (None: collect the body)."""
        reply = Reply(model, time.monotonic())
        try:
            async with asyncio.timeout(timeout_s):
                await self._exchange(method, target, body, reply, sse)
        except (OSError, asyncio.IncompleteReadError, ValueError, TimeoutError) as e:
            reply.error = f"{type(e).__name__}: {e}"[:200]
        return reply

    async def _exchange(self, method: str, target: str, body: bytes, reply: Reply,
                        sse: type[SseLines] | None) -> None:
        head = (f"{method} {target} HTTP/1.1\r\nHost: {HOST}:{self.port}\r\n{self.extra}"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        for attempt in (0, 1):
            reused = bool(self._idle) and attempt == 0
            if reused:
                reader, writer = self._idle.pop()
            else:
                reader, writer = await asyncio.open_connection(HOST, self.port, limit=1 << 22)
                self.opened += 1
            try:
                writer.write(head + body)
                status_head = await reader.readuntil(b"\r\n\r\n")
                break
            except (OSError, asyncio.IncompleteReadError):
                writer.close()
                if not reused:
                    raise
                reply.t0 = time.monotonic()  # a stale pooled connection: start again on a fresh one
        lines = status_head.decode("latin-1").split("\r\n")
        reply.status = int(lines[0].split()[1])
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name:
                reply.headers[name.strip().lower()] = value.strip()
        parts: list[bytes] = []
        sse = sse if reply.status == 200 else None
        feed = sse(reply).feed if sse else parts.append
        reusable = await self._read_body(reader, reply.headers, feed)
        reply.t_end = time.monotonic()
        if not sse:
            reply.body = b"".join(parts)
            reply.t_first = reply.t_end
        if reusable and reply.headers.get("connection", "").lower() != "close":
            self._idle.append((reader, writer))
        else:
            writer.close()

    @staticmethod
    async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str],
                         feed: Callable[[bytes], None]) -> bool:
        """Feeds the body to `feed` chunk by chunk; True if the connection can be reused."""
        if "chunked" in headers.get("transfer-encoding", "").lower():
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0].strip(), 16)
                if size == 0:
                    while (await reader.readuntil(b"\r\n")) != b"\r\n":
                        pass
                    return True
                data = await reader.readexactly(size + 2)
                feed(data[:-2])
        if "content-length" in headers:
            feed(await reader.readexactly(int(headers["content-length"])))
            return True
        while data := await reader.read(1 << 16):
            feed(data)
        return False


# --- processes ---------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def cpu_ticks(pid: int) -> int:
    """utime + stime of a process, in clock ticks (/proc/PID/stat fields 14 and 15)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


def rss_mib(pid: int) -> float | None:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return None


TICK_S = 1 / os.sysconf("SC_CLK_TCK")


_LIVE: list[Service] = []  # every child still running, so main() can stop them whatever happened


class Service:
    """A child process serving HTTP on `port`; `stop()` sends SIGTERM, then kills."""

    def __init__(self, name: str, argv: list[str], port: int, health_path: str, log_path: Path,
                 env: dict[str, str] | None = None) -> None:
        self.name, self.port, self.health_path, self.log_path = name, port, health_path, log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(argv, cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True, env=env)
        _LIVE.append(self)

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def wait_ready(self, timeout_s: float = HEALTH_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        client = HttpClient(self.port)
        try:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")
                reply = await client.request("GET", self.health_path, b"", timeout_s=2.0)
                if reply.status == 200:
                    return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name} not ready after {timeout_s:.0f} s "
                                       f"(last: {reply.status or reply.error}):\n{self.tail()}")
                await asyncio.sleep(0.1)
        finally:
            await client.close()

    def tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self) -> None:
        if self in _LIVE:
            _LIVE.remove(self)
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                self.proc.wait(5)
        self._log.close()


def write_home(home: Path, keys: Sequence[str]) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(f'api_key = "{GATEWAY_KEY}"\n')
    accounts = home / "accounts"
    accounts.mkdir(exist_ok=True)
    for i, key in enumerate(keys, 1):
        (accounts / f"key-{i}.json").write_text(json.dumps(
            {"kind": "gemini_api_key", "api_key": key, "label": f"key-{i}"}))
    return home


def start_simulator(tmp: Path) -> Service:
    port = free_port()
    return Service("simulator", [sys.executable, "-m", "addon.simulator", "--port", str(port)], port,
                   "/__sim/log", tmp / "simulator.log")


def start_gateway(tmp: Path, name: str, sim_port: int, keys: Sequence[str], profile: str | None = None) -> Service:
    home = write_home(tmp / f"home-{name}", keys)
    port = free_port()
    mitmdump = Path(sys.executable).parent / "mitmdump"
    if not mitmdump.exists():
        mitmdump = Path(shutil.which("mitmdump") or "mitmdump")
    prefix = [sys.executable, "-m", "cProfile", "-o", profile] if profile else []
    argv = [*prefix, str(mitmdump), "-q", "-s", "addon/gateway.py",
            "--mode", f"reverse:http://{HOST}:{sim_port}@{HOST}:{port}", "--set", f"interlock_home={home}"]
    env = {k: v for k, v in os.environ.items() if k != "INTERLOCK_HOME"}
    return Service(f"gateway ({name})", argv, port, "/healthz", tmp / f"gateway-{name}.log", env)


# --- the load ----------------------------------------------------------------------------------

@dataclass
class Shape:
    events: int
    interval_ms: int


@dataclass(frozen=True)
class Wire:
    """One client protocol: how it asks for an answer, how it authenticates, how its stream reads."""

    name: str
    title: str
    parser: type[SseLines]
    matching: str  # how its events are matched to the upstream's, for the report's footnote

    def headers(self, key: str) -> dict[str, str]:
        if self.name == "anthropic":
            return {"x-api-key": key, "anthropic-version": ANTHROPIC_VERSION}
        if self.name == "openai":
            return {"Authorization": f"Bearer {key}"}
        return {"x-goog-api-key": key}

    def request(self, model: str, prompt: str, stream: bool) -> tuple[str, bytes]:
        """(path, body) of one request for `model` with a single user turn."""
        if self.name == "anthropic":
            doc: dict[str, Any] = {"model": model, "max_tokens": ANTHROPIC_MAX_TOKENS, "stream": stream,
                                   "messages": [{"role": "user", "content": prompt}]}
            return "/v1/messages", json.dumps(doc).encode()
        if self.name == "openai":
            doc = {"model": model, "stream": stream, "messages": [{"role": "user", "content": prompt}]}
            return "/v1/chat/completions", json.dumps(doc).encode()
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        doc = {"contents": [{"role": "user", "parts": [{"text": prompt}]}]}
        return f"/v1beta/models/{model}:{method}", json.dumps(doc).encode()


ANTHROPIC_VERSION = "2023-06-01"
ANTHROPIC_MAX_TOKENS = 65_536  # required; the gateway caps it at the model's limit, far above any bench answer
WIRES = {
    "gemini": Wire("gemini", "Gemini SSE (streamGenerateContent?alt=sse)", SseLines,
                   "gemini: every `data:` line is an event; the k-th ↔ the k-th the simulator sent (1:1)."),
    "anthropic": Wire(
        "anthropic", "Anthropic Messages SSE (POST /v1/messages)", AnthropicLines,
        "anthropic: events are `content_block_delta` text_deltas, the k-th ↔ the k-th upstream event "
        "(the translator emits one per upstream text part). message_start and content_block_start travel "
        "in the first delta's write; content_block_stop, message_delta and message_stop follow the "
        "upstream's end, so they are in stream total only."),
    "openai": Wire(
        "openai", "OpenAI Chat Completions SSE (POST /v1/chat/completions)", OpenAiLines,
        "openai: events are chunks with non-empty delta.content, the k-th ↔ the k-th upstream event "
        "(one per upstream text part). The role chunk travels in the first content chunk's write, the "
        "finish_reason chunk in the last one's; [DONE] follows the upstream's end (stream total only)."),
}
PROTOCOLS = tuple(WIRES)


class Target:
    """One path under test: direct to the simulator, or through a gateway, in one client protocol."""

    _names = itertools.count(1)

    def __init__(self, name: str, port: int, wire: Wire, key: str, service: Service | None) -> None:
        self.name = name
        self.wire = wire
        self.client = HttpClient(port, wire.headers(key))
        self.service = service

    @classmethod
    def model(cls) -> str:
        return f"{MODEL}-bench-{next(cls._names)}"

    async def stream(self, shape: Shape, label: str = "stream") -> Reply:
        model = self.model()
        prompt = f"bench {label} [[sim chunks={shape.events} interval_ms={shape.interval_ms}]]"
        path, body = self.wire.request(model, prompt, stream=True)
        return await self.client.request("POST", path, body, model, sse=self.wire.parser)

    async def unary(self) -> Reply:
        model = self.model()
        path, body = self.wire.request(model, "bench unary [[sim interval_ms=0]]", stream=False)
        return await self.client.request("POST", path, body, model)


async def check_pass_through(port: int) -> None:
    """Refuse to measure when the gateway would map the bench's model names to another model:
    then the simulator log would not find them (and a mapped model is not what we mean to measure)."""
    client = HttpClient(port, {"Authorization": f"Bearer {GATEWAY_KEY}"})
    model = f"{MODEL}-bench-0"
    try:
        reply = await client.request("POST", "/v1/models/detect", json.dumps({"model": model}).encode())
    finally:
        await client.close()
    mapped = json.loads(reply.body).get("mapped_model") if reply.status == 200 else None
    if mapped != model:
        raise RuntimeError(f"the gateway maps {model!r} to {mapped!r} (HTTP {reply.status or reply.error}); "
                           "the bench needs it passed through unchanged")


async def run_many(n: int, concurrency: int, make: Callable[[], Awaitable[Reply]]) -> list[Reply]:
    """`n` requests with at most `concurrency` in flight (all at once when concurrency >= n)."""
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one() -> Reply:
        async with gate:
            return await make()

    return list(await asyncio.gather(*(one() for _ in range(n))))


class SimControl:
    def __init__(self, port: int) -> None:
        self.client = HttpClient(port)

    async def reset(self) -> None:
        reply = await self.client.request("POST", "/__sim/reset", b"")
        if reply.status != 200:
            raise RuntimeError(f"simulator reset failed: {reply.status or reply.error}")

    async def log(self) -> list[dict[str, Any]]:
        reply = await self.client.request("GET", "/__sim/log", b"")
        if reply.status != 200:
            raise RuntimeError(f"simulator log failed: {reply.status or reply.error}")
        return json.loads(reply.body)


@dataclass
class Phase:
    """One path's measured phase of one scenario, raw numbers in ms unless named otherwise."""

    target: str
    requests: int
    concurrency: int
    wall_s: float
    ttfb_ms: list[float]
    total_ms: list[float]
    delay_ms: list[float]  # every event of every matched stream
    events_delivered: int
    errors: list[str]
    unmatched: int  # streams whose log record was missing or had another event count
    retried: int  # streams the gateway answered from a second account (retry scenario)
    gateway_cpu_s: float | None
    sim_cpu_s: float
    client_cpu_s: float
    gateway_rss_mib: float | None
    client_connections: int

    @property
    def cpu_us_per_event(self) -> float | None:
        if self.gateway_cpu_s is None or not self.events_delivered:
            return None
        return self.gateway_cpu_s / self.events_delivered * 1e6

    @property
    def cpu_ms_per_request(self) -> float | None:
        ok = self.requests - len(self.errors)
        if self.gateway_cpu_s is None or not ok:
            return None
        return self.gateway_cpu_s / ok * 1e3

    def as_json(self) -> dict[str, Any]:
        return {
            "target": self.target, "requests": self.requests, "concurrency": self.concurrency,
            "wall_s": self.wall_s, "errors": self.errors, "unmatched_log_records": self.unmatched,
            "retried": self.retried, "events_delivered": self.events_delivered,
            "gateway_cpu_s": self.gateway_cpu_s, "gateway_cpu_us_per_event": self.cpu_us_per_event,
            "gateway_cpu_ms_per_request": self.cpu_ms_per_request, "gateway_rss_mib": self.gateway_rss_mib,
            "simulator_cpu_s": self.sim_cpu_s, "client_cpu_s": self.client_cpu_s,
            "client_connections_opened": self.client_connections,
            "ttfb_ms": summarize(self.ttfb_ms), "total_ms": summarize(self.total_ms),
            "event_delay_ms": summarize(self.delay_ms),
            "raw": {"ttfb_ms": self.ttfb_ms, "total_ms": self.total_ms, "event_delay_ms": self.delay_ms},
        }


def check(reply: Reply, shape: Shape | None) -> str | None:
    """Why a reply does not count (None when it does): an error, a status, a short stream."""
    if reply.error:
        return reply.error
    if reply.stream_error:
        return reply.stream_error
    if reply.status != 200:
        return f"HTTP {reply.status}: {reply.body[:120]!r}"
    if shape is not None and (len(reply.events) != shape.events or not reply.finished):
        return f"{len(reply.events)}/{shape.events} events, finished={reply.finished}"
    return None


def event_delays(replies: Sequence[Reply], log: Sequence[dict[str, Any]]) -> tuple[list[float], int, int]:
    """Per-event delays (ms) of every reply matched to its log record by model; unmatched; retried."""
    by_model: dict[str, list[dict[str, Any]]] = {}
    for record in log:
        by_model.setdefault(record.get("model") or "", []).append(record)
    delays: list[float] = []
    unmatched = retried = 0
    for reply in replies:
        records = by_model.get(reply.model, [])
        served = [r for r in records if r.get("status") == 200 and r.get("event_times")]
        if any(r.get("fault") for r in records) and served:
            retried += 1
        if len(served) != 1 or len(served[0]["event_times"]) != len(reply.events):
            unmatched += 1
            continue
        delays += [(got - sent) * 1e3 for got, sent in zip(reply.events, served[0]["event_times"], strict=True)]
    return delays, unmatched, retried


async def measure(target: Target, sim: Service, ctl: SimControl, n: int, concurrency: int,
                  make: Callable[[], Awaitable[Reply]], warm: Callable[[], Awaitable[Reply]] | None,
                  shape: Shape | None) -> Phase:
    if warm is not None:  # fill both sides' keep-alive pools at this concurrency
        await run_many(concurrency, concurrency, warm)
    await ctl.reset()
    gc.collect()
    gc.disable()
    gw = target.service
    try:
        opened = target.client.opened
        gw0 = cpu_ticks(gw.pid) if gw else 0
        sim0, client0, t0 = cpu_ticks(sim.pid), time.process_time(), time.monotonic()
        replies = await run_many(n, concurrency, make)
        wall = time.monotonic() - t0
        await asyncio.sleep(SETTLE_S)
        gw_cpu = (cpu_ticks(gw.pid) - gw0) * TICK_S if gw else None
        sim_cpu, client_cpu = (cpu_ticks(sim.pid) - sim0) * TICK_S, time.process_time() - client0
    finally:
        gc.enable()
    checked = [(r, check(r, shape)) for r in replies]
    errors = [e for _, e in checked if e]
    ok = [r for r, e in checked if e is None]
    delays, unmatched, retried = event_delays(ok, await ctl.log()) if shape else ([], 0, 0)
    return Phase(
        target=target.name, requests=n, concurrency=concurrency, wall_s=wall,
        ttfb_ms=[r.ttfb * 1e3 for r in ok if r.ttfb is not None],
        total_ms=[r.total * 1e3 for r in ok if r.total is not None],
        delay_ms=delays, events_delivered=sum(len(r.events) for r in replies) if shape else len(ok),
        errors=errors, unmatched=unmatched, retried=retried, gateway_cpu_s=gw_cpu, sim_cpu_s=sim_cpu,
        client_cpu_s=client_cpu, gateway_rss_mib=rss_mib(gw.pid) if gw else None,
        client_connections=target.client.opened - opened)


# --- the run -----------------------------------------------------------------------------------

@dataclass
class Plan:
    shape: Shape
    levels: list[tuple[str, int, int]]  # (name, requests, concurrency)
    unary: int
    retried: int
    profile: str | None = None
    protocols: tuple[str, ...] = ("gemini",)


def make_plan(args: argparse.Namespace) -> Plan:
    if args.quick:
        levels, unary, retried = [("c1", 5, 1), ("c10", 20, 10), ("c100", 100, 100)], 10, 3
    else:
        levels, unary, retried = [("c1", 20, 1), ("c10", 50, 10), ("c100", 100, 100)], 30, 20
    if args.streams:
        levels = [(name, args.streams, min(c, args.streams)) for name, _, c in levels]
        retried = args.streams
    events = args.events or 50
    protocols = PROTOCOLS if args.protocol == "all" else (args.protocol,)
    return Plan(Shape(events, args.interval_ms), levels, unary, retried, args.profile, protocols)


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


Results = dict[str, dict[str, dict[str, Phase]]]
"""protocol → scenario → "direct" / "gateway" → Phase"""


async def run(plan: Plan, tmp: Path) -> dict[str, Any]:
    shape = plan.shape
    warm_shape = Shape(2, 0)
    results: Results = {p: {} for p in plan.protocols}
    services: list[Service] = []
    try:
        sim = start_simulator(tmp)
        services.append(sim)
        await sim.wait_ready()
        gw = start_gateway(tmp, "main", sim.port, ["bench-key-1", "bench-key-2"], plan.profile)
        services.append(gw)
        await gw.wait_ready()
        await check_pass_through(gw.port)
        ctl = SimControl(sim.port)
        direct = Target("direct", sim.port, WIRES["gemini"], "bench-direct", None)
        gateways = {p: Target("gateway", gw.port, WIRES[p], GATEWAY_KEY, gw) for p in plan.protocols}
        rss_start = rss_mib(gw.pid)
        for target in (direct, *gateways.values()):  # global warm-up: imports, caches, first connections
            await run_many(10, 10, lambda t=target: t.stream(warm_shape, "warm"))
            await run_many(5, 1, lambda t=target: t.unary())
        for name, n, conc in plan.levels:
            key = f"stream {name}"
            what = f"{key} ({n} streams, {conc} at a time, {shape.events}×{shape.interval_ms} ms)"
            say(f"bench: {what} direct …")
            base = await measure(direct, sim, ctl, n, conc, lambda: direct.stream(shape),
                                 lambda: direct.stream(warm_shape, "warm"), shape)
            for protocol, target in gateways.items():
                say(f"bench: {what} gateway, {protocol} …")
                results[protocol][key] = {"direct": base, "gateway": await measure(
                    target, sim, ctl, n, conc, lambda t=target: t.stream(shape),
                    lambda t=target: t.stream(warm_shape, "warm"), shape)}
        say(f"bench: non-stream ({plan.unary} sequential) direct …")
        base = await measure(direct, sim, ctl, plan.unary, 1, direct.unary, None, None)
        for protocol, target in gateways.items():
            say(f"bench: non-stream ({plan.unary} sequential) gateway, {protocol} …")
            results[protocol]["non-stream c1"] = {
                "direct": base, "gateway": await measure(target, sim, ctl, plan.unary, 1, target.unary, None, None)}
        rss_end = rss_mib(gw.pid)
        for target in gateways.values():
            await target.client.close()
        gw.stop()

        for protocol in plan.protocols:  # a fresh gateway each, so each protocol meets key-1's 429 first
            say(f"bench: retried stream ({plan.retried} sequential; key-1 always 429), {protocol} …")
            gw2 = start_gateway(tmp, f"retry-{protocol}", sim.port, [RETRY_KEY, "bench-key-2"])
            services.append(gw2)
            await gw2.wait_ready()
            retrying = Target("gateway", gw2.port, WIRES[protocol], GATEWAY_KEY, gw2)
            await run_many(2, 1, lambda t=retrying: t.stream(warm_shape, "warm"))
            results[protocol]["retried stream c1"] = {
                "direct": results[protocol][f"stream {plan.levels[0][0]}"]["direct"],
                "gateway": await measure(retrying, sim, ctl, plan.retried, 1, lambda t=retrying: t.stream(shape),
                                         None, shape)}
            await retrying.client.close()
            gw2.stop()
        for client in (direct.client, ctl.client):
            await client.close()
        return {"protocols": results, "gateway_rss_mib": {"start": rss_start, "end": rss_end}}
    finally:
        for service in reversed(services):
            service.stop()


# --- the report --------------------------------------------------------------------------------

def report_rows(phases: dict[str, dict[str, Phase]]) -> list[dict[str, Any]]:
    """One row per scenario × metric: direct, gateway and added (ms), and the gateway's CPU."""
    rows: list[dict[str, Any]] = []
    for scenario, paths in phases.items():
        d, g = paths["direct"], paths["gateway"]
        stream = not scenario.startswith("non-stream")
        label = f"{scenario} · {g.requests} req" + (f", {g.concurrency} at once" if g.concurrency > 1 else " seq")
        metrics: list[tuple[str, list[float], list[float], Sequence[str]]]
        if stream:
            metrics = [("TTFB", d.ttfb_ms, g.ttfb_ms, ("p50", "p95", "p99")),
                       ("event delay", d.delay_ms, g.delay_ms, ("p50", "p95", "p99")),
                       ("stream total", d.total_ms, g.total_ms, ("p50",))]
        else:
            metrics = [("latency", d.ttfb_ms, g.ttfb_ms, ("p50", "p95", "p99"))]
        first = True
        for metric, dv, gv, qs in metrics:
            ds, gs = summarize(dv), summarize(gv)
            for q in qs:
                dq, gq = ds[q], gs[q]
                cpu = None
                if first:
                    cpu = (f"{g.cpu_us_per_event:,.0f} µs/ev" if stream and g.cpu_us_per_event is not None
                           else f"{g.cpu_ms_per_request:,.2f} ms/req" if g.cpu_ms_per_request is not None else None)
                    if stream and g.cpu_ms_per_request is not None:
                        cpu += f", {g.cpu_ms_per_request:,.1f} ms/stream"
                rows.append({"scenario": label if first else "", "metric": f"{metric} {q}", "direct": dq,
                             "gateway": gq, "added": None if dq is None or gq is None else gq - dq,
                             "gateway_cpu": cpu})
                first = False
    return rows


def print_report(result: dict[str, Any], plan: Plan, wall_s: float) -> None:
    from rich.console import Console

    console = Console(width=max(120, Console().width))
    for protocol, phases in result["protocols"].items():
        print_protocol(console, WIRES[protocol], phases, plan)
    rss = result.get("gateway_rss_mib") or {}
    notes = []
    if rss.get("start"):
        notes.append(f"gateway RSS: {rss['start']:,.0f} MiB after start, {rss['end']:,.0f} MiB at the end")
    if len(plan.protocols) > 1:
        notes.append("each load level measured direct once, then the gateway in " + ", ".join(plan.protocols)
                     + " (in that order); every table repeats the same direct column")
    notes.append(f"{os.cpu_count()} CPUs shared by client, simulator and gateway: c100 figures rank, they do "
                 f"not measure. CPU ticks are {TICK_S * 1e3:.0f} ms. Run took {wall_s:.0f} s.")
    for note in notes:
        console.print(f"  {note}", highlight=False, soft_wrap=True)


def print_protocol(console: Any, wire: Wire, phases: dict[str, dict[str, Phase]], plan: Plan) -> None:
    from rich.table import Table

    upstream = "" if wire.name == "gemini" else " ← Gemini SSE upstream (direct = Gemini to the simulator)"
    table = Table(title=f"interlock bench: {wire.title}{upstream}, {plan.shape.events} events × "
                        f"{plan.shape.interval_ms} ms, ms unless noted (added = gateway − direct)")
    for name, justify in (("scenario", "left"), ("metric", "left"), ("direct", "right"), ("gateway", "right"),
                          ("added", "right"), ("gateway CPU", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in report_rows(phases):
        table.add_row(row["scenario"], row["metric"], fmt_ms(row["direct"]), fmt_ms(row["gateway"]),
                      fmt_ms(row["added"], signed=True), row["gateway_cpu"] or "",
                      end_section=False)
    console.print(table)
    notes = [wire.matching]
    for scenario, paths in phases.items():
        for path, phase in paths.items():
            if phase.errors:
                notes.append(f"{scenario} {path}: {len(phase.errors)} errors, e.g. {phase.errors[0]}")
            if phase.unmatched:
                notes.append(f"{scenario} {path}: {phase.unmatched} streams not matched in the simulator log")
    retry = phases.get("retried stream c1", {}).get("gateway")
    if retry is not None:
        notes.append(f"retried stream: {retry.retried}/{retry.requests} streams were answered by key-2 after a 429 "
                     "from key-1 (checked in the simulator log); its direct column repeats stream c1's")
        if retry.retried < retry.requests:
            notes.append("  the others went straight to key-2: key-1's 429 cools it down for that model name only "
                         "(every bench stream has its own), so what keeps them off key-1 is the session, which the "
                         "gateway keys on the first user text (the same in every bench stream) for Gemini clients; "
                         "Anthropic (metadata.user_id only) and OpenAI clients get none, so theirs retry every time")
    for scenario, paths in phases.items():
        d, g = paths["direct"], paths["gateway"]
        notes.append(f"{scenario}: client CPU {d.client_cpu_s * 1e3:,.0f} / {g.client_cpu_s * 1e3:,.0f} ms, "
                     f"simulator CPU {d.sim_cpu_s * 1e3:,.0f} / {g.sim_cpu_s * 1e3:,.0f} ms (direct / gateway); "
                     f"gateway CPU {0 if g.gateway_cpu_s is None else g.gateway_cpu_s * 1e3:,.0f} ms over "
                     f"{g.wall_s:.1f} s" + (f", RSS {g.gateway_rss_mib:,.0f} MiB" if g.gateway_rss_mib else ""))
    if retry is not None and "stream c1" in phases:
        plain = summarize(phases["stream c1"]["gateway"].ttfb_ms)["p50"]
        again = summarize(retry.ttfb_ms)["p50"]
        if plain is not None and again is not None:
            notes.append(f"the retry itself (429 from key-1, then key-2) adds {again - plain:+.2f} ms to the "
                         f"gateway's c1 TTFB p50 ({plain:.2f} → {again:.2f} ms)")
    if wire.name != "gemini":
        notes.append(f"non-stream: the gateway answers {wire.name}'s stream=false by collecting the upstream's "
                     "streamGenerateContent; direct is :generateContent")
    for note in notes:
        console.print(f"  {note}", highlight=False, soft_wrap=True)
    console.print()


def to_json(result: dict[str, Any], plan: Plan, args: argparse.Namespace, wall_s: float) -> dict[str, Any]:
    protocols: Results = result["protocols"]
    return {
        "meta": {"when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "python": platform.python_version(),
                 "platform": platform.platform(), "cpus": os.cpu_count(), "clock_tick_s": TICK_S,
                 "wall_s": wall_s, "quick": args.quick, "client": "raw asyncio HTTP/1.1, keep-alive"},
        "config": {"events": plan.shape.events, "interval_ms": plan.shape.interval_ms,
                   "levels": [{"name": n, "requests": r, "concurrency": c} for n, r, c in plan.levels],
                   "unary_requests": plan.unary, "retried_requests": plan.retried,
                   "protocols": list(plan.protocols)},
        "gateway_rss_mib": result.get("gateway_rss_mib"),
        "protocols": {protocol: {
            "scenarios": {name: {path: phase.as_json() for path, phase in paths.items()}
                          for name, paths in phases.items()},
            "table": report_rows(phases)} for protocol, phases in protocols.items()},
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a smoke run: fewer, shorter streams (< 60 s per protocol)")
    parser.add_argument("--streams", type=int, default=0,
                        help="streams per load level (default c1 20, c10 50, c100 100; quick 5/20/100)")
    parser.add_argument("--events", type=int, default=0, help="events per stream (default 50)")
    parser.add_argument("--interval-ms", type=int, default=20, help="pause between events (default 20)")
    parser.add_argument("--protocol", choices=(*PROTOCOLS, "all"), default="gemini",
                        help="the client protocol spoken to the gateway (default gemini); all: one table each")
    parser.add_argument("--json", metavar="FILE", help="also write the raw numbers here")
    parser.add_argument("--profile", metavar="FILE",
                        help="run the main gateway under cProfile and write its stats here "
                             "(slows the gateway: its numbers are then not comparable)")
    args = parser.parse_args(argv)
    if args.streams < 0 or args.events < 0 or args.interval_ms < 0:
        parser.error("counts and intervals must not be negative")
    return args


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    plan = make_plan(args)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="interlock-bench-") as tmp:
            try:
                result = asyncio.run(run(plan, Path(tmp)))
            except RuntimeError as e:
                print(f"bench: {e}", file=sys.stderr)
                return 1
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    finally:
        for service in list(_LIVE):
            service.stop()
        signal.signal(signal.SIGTERM, previous)
    wall = time.monotonic() - started
    print_report(result, plan, wall)
    if args.json:
        Path(args.json).write_text(json.dumps(to_json(result, plan, args, wall), indent=1) + "\n")
        print(f"  raw numbers: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
