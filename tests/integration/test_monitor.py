"""What mitmweb and saved flow files hold, with real mitmweb/mitmdump processes: the client flows
as sent, one flow per upstream attempt linked by its comment, and no secret anywhere; a saved
client flow replayed with `mitmdump -nC` against a running gateway reproduces the exchange.
"""

from __future__ import annotations

import json
import subprocess
import time

import httpx
from mitmproxy import io

from harness import write_home
from test_entry_points import BIN, BODY, finish_reasons, free_port, process, simulator  # noqa: F401

CLIENT_KEY = "sk-client-secret-abcdef123456"
ACCOUNT_KEY = "account-secret-key-9876543210"
FAULT_KEY = "sim-429-retry30s_first-account-secret"
SECRETS = (CLIENT_KEY, ACCOUNT_KEY, FAULT_KEY)


def gateway_cmd(tool: str, sim_url: str, home, port: int, *extra: str) -> list[str]:
    return [str(BIN / tool), "-s", "addon/gateway.py", "--mode", f"reverse:{sim_url}@127.0.0.1:{port}",
            "--set", f"interlock_home={home}", *extra]


def read_flows(path) -> list:
    with open(path, "rb") as f:
        return list(io.FlowReader(f).stream())


def test_mitmweb_shows_client_flows_and_one_flow_per_attempt_without_secrets(tmp_path, simulator):  # noqa: F811
    sim_url, _ = simulator
    home = write_home(tmp_path / "home", {"api_key": CLIENT_KEY, "auth_mode": "strict"}, [FAULT_KEY, ACCOUNT_KEY])
    port, web_port, password = free_port(), free_port(), "monitor-pw-123"
    saved = tmp_path / "saved.flows"
    cmd = gateway_cmd("mitmweb", sim_url, home, port, "--set", "web_open_browser=false",
                      "--set", f"web_port={web_port}", "--set", f"web_password={password}",
                      "--set", f"save_stream_file={saved}")
    with process(cmd, f"http://127.0.0.1:{port}/healthz?key={CLIENT_KEY}"):
        base = f"http://127.0.0.1:{port}/v1beta/models/gemini-2.5-flash"
        r = httpx.post(f"{base}:streamGenerateContent?alt=sse&key={CLIENT_KEY}", json=BODY, timeout=30)
        assert r.status_code == 200 and finish_reasons(r.content) == ["STOP"]
        plain = httpx.post(f"{base}:generateContent", json=BODY, headers={"x-goog-api-key": CLIENT_KEY}, timeout=30)
        assert plain.status_code == 200
        web = httpx.Client(base_url=f"http://127.0.0.1:{web_port}", headers={"authorization": f"Bearer {password}"})
        flows = web.get("/flows").json()
        attempts = [f for f in flows if (f.get("comment") or "").startswith("interlock attempt")]
        clients = [f for f in flows if f not in attempts and "models/gemini-2.5-flash:" in f["request"]["path"]]
        stream = next(f for f in clients if "streamGenerateContent" in f["request"]["path"])
        whole = next(f for f in clients if ":generateContent" in f["request"]["path"])

        # client flows: the request as the client sent it (to the gateway), the translated answer
        assert stream["request"]["port"] == port and stream["request"]["host"] == "127.0.0.1"
        assert json.loads(web.get(f"/flows/{stream['id']}/request/content.data").content) == BODY
        assert finish_reasons(web.get(f"/flows/{stream['id']}/response/content.data").content) == ["STOP"]
        assert json.loads(web.get(f"/flows/{whole['id']}/request/content.data").content) == BODY
        assert json.loads(web.get(f"/flows/{whole['id']}/response/content.data").content)["candidates"]
        for client, n in ((stream, 2), (whole, 1)):
            assert "account key-2" in client["comment"] and "model gemini-2.5-flash" in client["comment"]
            assert f"attempts {n}" in client["comment"] and "tokens in " in client["comment"]

        # one flow per attempt, linked to its client flow, saying why it ended
        mine = {c["id"]: [a for a in attempts if c["id"] in a["comment"]] for c in (stream, whole)}
        assert [a["response"]["status_code"] for a in mine[stream["id"]]] == [429, 200]
        assert [a["response"]["status_code"] for a in mine[whole["id"]]] == [200]
        assert len(attempts) == 3
        first = mine[stream["id"]][0]
        assert "429 RESOURCE_EXHAUSTED" in first["comment"] and "cooled 30s" in first["comment"]
        assert first["request"]["path"].startswith("/v1beta/models/gemini-2.5-flash:streamGenerateContent")
        assert "error" in json.loads(web.get(f"/flows/{first['id']}/response/content.data").content)
        served = mine[stream["id"]][1]
        assert finish_reasons(web.get(f"/flows/{served['id']}/response/content.data").content.replace(
            b"\n\n", b"\r\n").replace(b"\n", b"\r\n")) == ["STOP"], "the raw upstream stream"
        sent = json.loads(web.get(f"/flows/{served['id']}/request/content.data").content)
        assert sent["contents"][0]["parts"][0]["text"] == BODY["contents"][0]["parts"][0]["text"]
        assert dict(served["request"]["headers"])["x-goog-api-key"] == "acco…3210"

        everything = json.dumps(flows, ensure_ascii=False) + "".join(
            web.get(f"/flows/{f['id']}/{part}/content.data").text
            for f in flows for part in ("request", "response") if f.get(part))
        for secret in SECRETS:
            assert secret not in everything

    raw = saved.read_bytes()
    for secret in SECRETS:
        assert secret.encode() not in raw, "a saved flow file holds no secret"
    on_disk = read_flows(saved)
    assert sum((f.comment or "").startswith("interlock attempt") for f in on_disk) == 3


def test_a_saved_client_flow_replays_against_a_running_gateway(tmp_path, simulator):  # noqa: F811
    sim_url, _ = simulator
    home = write_home(tmp_path / "home", {"api_key": CLIENT_KEY, "auth_mode": "strict"}, [ACCOUNT_KEY])
    port = free_port()
    saved, bug = tmp_path / "saved.flows", tmp_path / "bug.flows"
    ready = f"http://127.0.0.1:{port}/healthz?key={CLIENT_KEY}"
    with process(gateway_cmd("mitmdump", sim_url, home, port, "-w", str(saved)), ready) as gateway:
        body = {"contents": [{"role": "user", "parts": [{"text": "replay me [[sim chunks=2]]"}]}]}
        r = httpx.post(f"http://127.0.0.1:{port}/v1beta/models/gemini-2.5-flash:generateContent", json=body,
                       headers={"x-goog-api-key": CLIENT_KEY}, timeout=30)
        assert r.status_code == 200
    console = gateway.stdout.read().decode()
    line = next(x for x in console.splitlines() if "interlock: POST /v1beta/models/gemini-2.5-flash:gen" in x)
    for field in ("route=gemini", "model=gemini-2.5-flash", "account=key-1", "status=200", "attempts=1", "ms="):
        assert field in line, line
    assert "Traceback" not in console and "error" not in console.lower(), console
    assert CLIENT_KEY not in console and ACCOUNT_KEY not in console
    assert CLIENT_KEY.encode() not in saved.read_bytes() and ACCOUNT_KEY.encode() not in saved.read_bytes()

    # the README's recipe: keep the client flows, replay them with your own key
    keep = '~u generateContent & !~comment "^interlock attempt"'
    subprocess.run([str(BIN / "mitmdump"), "-q", "-nr", str(saved), "-w", str(bug), keep], check=True, timeout=60)
    assert [f.request.path for f in read_flows(bug)] == ["/v1beta/models/gemini-2.5-flash:generateContent"]
    with process(gateway_cmd("mitmdump", sim_url, home, port, "-q"), ready):
        before = len(httpx.get(f"{sim_url}/__sim/log").json())
        out = subprocess.run([str(BIN / "mitmdump"), "-nC", str(bug), "--flow-detail", "1",
                              "--modify-headers", f"|~q|x-goog-api-key|{CLIENT_KEY}"],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "<< 200" in out.stdout, out.stdout
        log = httpx.get(f"{sim_url}/__sim/log").json()
        assert len(log) == before + 1 and log[-1]["status"] == 200 and log[-1]["api_key"] == ACCOUNT_KEY


def test_retention_keeps_the_view_within_its_limits(start_gateway):
    from mitmproxy.addons.view import View

    gw = start_gateway(keys=["sim-429-retry30s_a", "good-key"], options={"monitor_max_flows": 4})
    view = View()

    async def add_view() -> None:
        gw.master.addons.add(view)

    gw.call(add_view())
    url = f"{gw.url}/v1beta/models/gemini-2.5-flash:generateContent"
    for _ in range(5):
        assert httpx.post(url, json=BODY, timeout=30).status_code == 200
    assert len(view) == 4, "client flows and attempt flows count alike; the oldest go first"
    kept = [f for f in view if not f.comment.startswith("interlock attempt")]
    assert kept and "account key-2" in kept[-1].comment, "the latest client flow is kept"

    async def shrink() -> None:
        gw.master.options.update(monitor_max_mb=0)

    gw.call(shrink())
    assert httpx.post(url, json=BODY, timeout=30).status_code == 200
    assert len(view) == 1, "over the byte limit only the flow just finished stays"


def test_memory_stays_flat_over_many_exchanges(start_gateway):
    """Retention bounds what a long day leaves behind: flows in the view, their stored bytes, and
    no per-exchange bookkeeping (records, parked streams) outliving its exchange."""
    from mitmproxy.addons.view import View

    gw = start_gateway(keys=["sim-429-retry30s_a", "good-key"],
                       options={"monitor_max_flows": 6, "monitor_max_mb": 1, "monitor_body_kb": 96})
    view = View()
    monitor = gw.addon.monitor

    async def add_view() -> None:
        gw.master.addons.add(view)

    async def held() -> tuple[int, int, int, int, int]:
        stored = sum(len(f.request.raw_content or b"") + len(f.response.raw_content or b"" if f.response else b"")
                     for f in view)
        return len(view), stored, len(monitor._kept), len(monitor.records), gw.addon.runtime.bridge.parked_count

    def settled() -> tuple[int, int, int, int, int]:
        """What is held once the last exchange's hooks have run (they may trail the client a little)."""
        for _ in range(200):
            state = gw.call(held())
            if state[3] == 0 and state[4] == 0:
                return state
            time.sleep(0.05)
        return state

    gw.call(add_view())
    gemini = f"{gw.url}/v1beta/models/gemini-2.5-flash"
    small = {"contents": [{"role": "user", "parts": [{"text": "hello [[sim chunks=3 interval_ms=0]]"}]}]}
    for i in range(30):  # streams and whole answers; the first one retried: client and attempt flows
        method = "streamGenerateContent?alt=sse" if i % 2 else "generateContent"
        assert httpx.post(f"{gemini}:{method}", json=small, timeout=30).status_code == 200
        flows, _, kept, records, parked = settled()
        assert flows == kept <= 6 and records == 0 and parked == 0, (i, flows, kept, records, parked)
    assert flows == 6

    async def by_bytes() -> None:
        gw.master.options.update(monitor_max_flows=10_000)

    gw.call(by_bytes())
    big = {"contents": [{"role": "user", "parts": [{"text": "long [[sim chunks=40 chunk_chars=4000 interval_ms=0]]"}]}]}
    counts = []
    for i in range(25):  # ~160 KB answers, 96 KB of each kept twice (client and attempt flow)
        r = httpx.post(f"{gemini}:streamGenerateContent?alt=sse", json=big, timeout=30)
        assert r.status_code == 200 and len(r.content) > 160_000
        flows, stored, kept, records, parked = settled()
        assert stored <= 1024 * 1024 and flows == kept and records == 0 and parked == 0, (i, flows, stored)
        counts.append(flows)
    assert len(set(counts[-10:])) == 1 and max(counts) < 20, f"the byte cap holds the count flat: {counts}"


def test_stored_bodies_are_capped(start_gateway):
    gw = start_gateway(options={"monitor_body_kb": 1})
    body = {"contents": [{"role": "user", "parts": [{"text": "long [[sim chunks=30 chunk_chars=100]]"}]}]}
    r = httpx.post(f"{gw.url}/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", json=body, timeout=30)
    assert r.status_code == 200 and len(r.content) > 3000, "the client gets everything"
    attempt = next(f for f in gw.recorder.flows if f.comment.startswith("interlock attempt"))
    client = gw.recorder.flows[-1]
    assert client.request.path.startswith("/v1beta/models/gemini-2.5-flash:streamGenerateContent")
    for f in (client, attempt):
        assert f.response.raw_content.endswith(b"more bytes not kept]")
        assert len(f.response.raw_content) < 1200
    assert attempt.metadata["interlock_attempt"] == client.id
