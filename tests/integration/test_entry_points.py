"""The ways users start interlock, each as a real process: mitmdump and mitmweb with the addon
script, `scripts/run --demo`, and `interlock simulator`. The mitmweb run also checks what the
monitor shows: the client's request as sent (keys masked), the translated answer, the comment.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from harness import REPO, write_home

BIN = Path(sys.executable).parent
CLIENT_KEY = "sk-client-secret-abcdef123456"
ACCOUNT_KEY = "account-secret-key-9876543210"
BODY = {"contents": [{"role": "user", "parts": [{"text": "hello [[sim chunks=3]]"}]}]}


def finish_reasons(sse: bytes) -> list[str]:
    events = [json.loads(line[6:]) for line in sse.split(b"\r\n") if line.startswith(b"data: ")]
    return [c["finishReason"] for e in events for c in e["candidates"] if c.get("finishReason")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def process(cmd: list[str], ready_url: str, env: dict | None = None, timeout: float = 30.0):
    """Start `cmd`, wait until `ready_url` answers 200, stop it (SIGTERM, then kill) afterwards."""
    proc = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"{cmd[0]} exited {proc.returncode}:\n{proc.stdout.read().decode()}")
            try:
                if httpx.get(ready_url, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{cmd[0]} not ready within {timeout}s")
            time.sleep(0.1)
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


@pytest.fixture
def simulator():
    port = free_port()
    with process([str(BIN / "interlock"), "simulator", "--port", str(port)],
                 f"http://127.0.0.1:{port}/v1beta/models?key=x") as proc:
        yield f"http://127.0.0.1:{port}", proc


def test_mitmdump_with_the_addon_script(tmp_path, simulator):
    sim_url, _ = simulator
    home = write_home(tmp_path / "home", {"api_key": CLIENT_KEY, "auth_mode": "strict"}, [ACCOUNT_KEY])
    port = free_port()
    cmd = [str(BIN / "mitmdump"), "-q", "-s", "addon/gateway.py", "--mode", f"reverse:{sim_url}@127.0.0.1:{port}",
           "--set", f"interlock_home={home}"]
    with process(cmd, f"http://127.0.0.1:{port}/healthz?key={CLIENT_KEY}"):
        url = f"http://127.0.0.1:{port}/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        r = httpx.post(url, json=BODY, headers={"x-goog-api-key": CLIENT_KEY}, timeout=30)
        assert r.status_code == 200 and finish_reasons(r.content) == ["STOP"]
        assert httpx.post(url, json=BODY, timeout=30).status_code == 401
        log = httpx.get(f"{sim_url}/__sim/log").json()
        assert log[-1]["api_key"] == ACCOUNT_KEY, "the account's key, not the client's, goes upstream"


def test_mitmweb_monitor_shows_the_client_request_masked(tmp_path, simulator):
    sim_url, _ = simulator
    home = write_home(tmp_path / "home", {"api_key": CLIENT_KEY, "auth_mode": "strict"},
                      ["sim-429-retry30s_first", ACCOUNT_KEY])
    port, web_port, password = free_port(), free_port(), "monitor-pw-123"
    cmd = [str(BIN / "mitmweb"), "-s", "addon/gateway.py", "--mode", f"reverse:{sim_url}@127.0.0.1:{port}",
           "--set", f"interlock_home={home}", "--set", "web_open_browser=false",
           "--set", f"web_port={web_port}", "--set", f"web_password={password}"]
    with process(cmd, f"http://127.0.0.1:{port}/healthz?key={CLIENT_KEY}"):
        path = f"/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse&key={CLIENT_KEY}"
        r = httpx.post(f"http://127.0.0.1:{port}{path}", json=BODY, timeout=30)
        assert r.status_code == 200
        plain = httpx.post(f"http://127.0.0.1:{port}/v1beta/models/gemini-2.5-flash:generateContent",
                           json=BODY, headers={"authorization": f"Bearer {CLIENT_KEY}"}, timeout=30)
        assert plain.status_code == 200
        web = httpx.Client(base_url=f"http://127.0.0.1:{web_port}", headers={"authorization": f"Bearer {password}"})
        flows = web.get("/flows").json()
        stream = next(f for f in flows if "streamGenerateContent" in f["request"]["path"])
        assert stream["request"]["path"].startswith("/v1beta/models/gemini-2.5-flash:streamGenerateContent")
        assert "attempts=429,200" in stream["comment"] and sim_url in stream["comment"]
        request_body = web.get(f"/flows/{stream['id']}/request/content.data").content
        assert json.loads(request_body) == BODY, "the client's body, not the bridge's empty one"
        answer = web.get(f"/flows/{stream['id']}/response/content.data").content
        assert finish_reasons(answer) == ["STOP"]
        everything = json.dumps(flows, ensure_ascii=False) + "".join(
            web.get(f"/flows/{f['id']}/{part}/content.data").text
            for f in flows for part in ("request", "response") if f.get(part))
        assert CLIENT_KEY not in everything and ACCOUNT_KEY not in everything
        assert "Bearer sk-c…3456" in everything, "keys appear masked"


def test_scripts_run_demo_answers_healthz(tmp_path):
    port = free_port()
    cmd = ["scripts/run", "--demo", "--no-monitor", "--port", str(port), "--home", str(tmp_path / "home")]
    with process(cmd, f"http://127.0.0.1:{port}/healthz", timeout=120) as proc:
        health = httpx.get(f"http://127.0.0.1:{port}/healthz").json()
        assert health["mode"] == "demo"
        r = httpx.post(f"http://127.0.0.1:{port}/v1beta/models/gemini-2.5-flash:generateContent",
                       json=BODY, timeout=30)
        assert r.status_code == 200 and r.headers["x-interlock-mode"] == "demo"
    assert (tmp_path / "home" / "config.toml").read_text().count('api_key = "sk-') == 1
    banner = proc.stdout.read().decode()
    assert "demo mode" in banner.lower() and f"127.0.0.1:{port}" in banner


def test_run_refuses_lan_without_allow_lan_access(tmp_path):
    out = subprocess.run([str(BIN / "interlock"), "run", "--no-monitor", "--host", "0.0.0.0",
                          "--home", str(tmp_path / "h")], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "allow_lan_access" in out.stderr
