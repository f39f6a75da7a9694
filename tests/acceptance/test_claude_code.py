"""Acceptance: the real Claude Code (npm `@anthropic-ai/claude-code`, pinned) against the gateway run as a user runs it.

The gateway is a `mitmdump -s addon/gateway.py … --set interlock_demo=true` subprocess (demo mode: the built-in
simulator answers, no network). Claude Code runs headless as reference/clients.md §2.1 and §7 say: `env -i`, a
throw-away HOME, ANTHROPIC_BASE_URL (bare) + ANTHROPIC_API_KEY, telemetry and non-essential traffic off,
`claude -p … --output-format json`. Its default model name (claude-opus-4-8) maps to a thinking Claude-family
upstream, so every turn carries adaptive thinking and signed thought parts.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from clients import INSTALL_TIMEOUT_S, REPO, ensure_npm_client, node_bin_dir  # noqa: E402

CLAUDE_CODE = ("@anthropic-ai/claude-code", "2.1.197")  # the version reference/clients.md §2 describes
UPSTREAM = "https://generativelanguage.googleapis.com"
CAPTURES = REPO.parent / "shared" / "fixtures" / "clients"
HEALTH_TIMEOUT_S = 30
CLI_TIMEOUT_S = 90

pytestmark = [pytest.mark.acceptance, pytest.mark.timeout(INSTALL_TIMEOUT_S + 300)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Gateway:
    url: str
    log: Path

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


@pytest.fixture(scope="session")
def claude_bin() -> Path:
    return ensure_npm_client(*CLAUDE_CODE)


@pytest.fixture(scope="module")
def live_gateway(tmp_path_factory):
    root = tmp_path_factory.mktemp("claude-gateway")
    port = _free_port()
    log = root / "mitmdump.log"
    cmd = [str(REPO / ".venv" / "bin" / "mitmdump"), "-q", "-s", str(REPO / "addon" / "gateway.py"),
           "--mode", f"reverse:{UPSTREAM}@127.0.0.1:{port}",
           "--set", f"interlock_home={root / 'interlock-home'}", "--set", "interlock_demo=true"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=root,
                                start_new_session=True)
    gw = Gateway(f"http://127.0.0.1:{port}", log)
    try:
        started = time.monotonic()
        while True:
            if proc.poll() is not None:
                pytest.fail(f"gateway exited with {proc.returncode} during start-up\n{gw.log_tail()}")
            try:
                with urllib.request.urlopen(gw.url + "/healthz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() - started > HEALTH_TIMEOUT_S:
                pytest.fail(f"gateway: no 200 from /healthz within {HEALTH_TIMEOUT_S} s\n{gw.log_tail()}")
            time.sleep(0.2)
        yield gw
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


@dataclass
class CliRun:
    out: dict | None
    stdout: str
    stderr: str
    returncode: int | None

    def report(self, gw: Gateway) -> str:
        return (f"exit {self.returncode}\n--- stdout\n{self.stdout[-6000:]}\n--- stderr\n{self.stderr[-4000:]}\n"
                f"--- gateway log\n{gw.log_tail()}")


def run_claude(bin_dir: Path, home: Path, gw: Gateway, cwd: Path, prompt: str) -> CliRun:
    path = [str(bin_dir)] + ([str(node_bin_dir())] if node_bin_dir() else []) + ["/usr/bin", "/bin"]
    env = {  # the whole environment, as with `env -i`
        "PATH": os.pathsep.join(dict.fromkeys(path)), "HOME": str(home), "TERM": "xterm",
        "ANTHROPIC_BASE_URL": gw.url, "ANTHROPIC_API_KEY": "sk-test",  # bare base URL: the client adds /v1
        "DISABLE_TELEMETRY": "1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    cmd = [str(bin_dir / "claude"), "-p", prompt, "--output-format", "json"]
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=CLI_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        stderr += f"\n[acceptance] killed after {CLI_TIMEOUT_S} s"
    try:
        out = json.loads(stdout)
    except ValueError:
        out = None
    return CliRun(out, stdout, stderr, proc.returncode)


def test_one_shot_prompt(claude_bin, live_gateway, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    run = run_claude(claude_bin, home, live_gateway, tmp_path, "say hi")
    assert isinstance(run.out, dict), f"no JSON on stdout\n{run.report(live_gateway)}"
    assert run.returncode == 0 and run.out["is_error"] is False, run.report(live_gateway)
    assert run.out["stop_reason"] == "end_turn" and "say hi" in run.out["result"], run.report(live_gateway)
    assert run.out["num_turns"] == 1, run.report(live_gateway)


def test_read_tool_round_trip(claude_bin, live_gateway, tmp_path):
    home, project = tmp_path / "home", tmp_path / "project"
    home.mkdir()
    project.mkdir()
    notes = project / "notes.txt"
    notes.write_text("The secret word is PAPAYA.\n")
    run = run_claude(claude_bin, home, live_gateway, project, f"Use Read to read {notes} and tell me the secret word")
    assert isinstance(run.out, dict), f"no JSON on stdout\n{run.report(live_gateway)}"
    assert run.out["is_error"] is False, run.report(live_gateway)
    # PAPAYA is only in the file: it reaches the answer only through tool_use Read → tool_result → the
    # second turn, which echoes the first turn's signed thinking (the simulator refuses signatures it never issued).
    assert "PAPAYA" in run.out["result"], run.report(live_gateway)
    assert run.out["num_turns"] == 2, run.report(live_gateway)


def _captured_title_request() -> tuple[dict[str, str], dict]:
    for line in (CAPTURES / "claude-code-interactive.jsonl").read_text().splitlines():
        record = json.loads(line)
        body = record.get("body")
        if isinstance(body, dict) and (body.get("output_config") or {}).get("format"):
            headers = {k: v for k, v in record["headers"] if k.lower() not in ("content-length", "host",
                                                                                 "accept-encoding", "connection")}
            return headers, body
    raise AssertionError("no title-generation request in the interactive capture")


def test_title_generation_request_gets_schema_valid_json(live_gateway):
    """The structured title request an interactive start sends (captured from Claude Code 2.1.197, replayed
    byte for byte with its headers): the text it streams back must be JSON valid for the request's schema."""
    headers, body = _captured_title_request()
    schema = body["output_config"]["format"]["schema"]
    request = urllib.request.Request(live_gateway.url + "/v1/messages?beta=true", data=json.dumps(body).encode(),
                                     headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=CLI_TIMEOUT_S) as r:
        raw = r.read().decode()
    text = ""
    for line in raw.splitlines():
        if line.startswith("data: "):
            event = json.loads(line[6:])
            if event["type"] == "content_block_delta" and event["delta"]["type"] == "text_delta":
                text += event["delta"]["text"]
    title = json.loads(text)
    assert set(title) == set(schema["properties"]) >= set(schema["required"])
    assert isinstance(title["title"], str) and title["title"]
