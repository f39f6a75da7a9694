"""`interlock accounts login` end to end against the simulator's OAuth endpoints, in a real
subprocess: the browser is a script (`BROWSER`) that follows the consent page's redirect with an
HTTP client; the headless variant gets the final address pasted on stdin. Then the new account
serves requests through a gateway, and `interlock accounts warmup` / `POST /internal/warmup` work."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from addon.pool.store import AccountStore
from cloudcode_home import CLIENT, SimThread, write_cloudcode_home
from harness import API_KEY, RunningGateway

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def sim():
    thread = SimThread().start()
    yield thread
    thread.stop()


def interlock(home: Path, *argv: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "COLUMNS": "200", **kw.pop("env", {})}
    return subprocess.Popen([sys.executable, "-m", "addon.cli", "accounts", "--home", str(home), *argv],
                            cwd=REPO, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)


def fake_browser(tmp_path: Path) -> Path:
    script = tmp_path / "browser"
    script.write_text(f"#!{sys.executable}\n"
                      "import sys, httpx\n"
                      "r = httpx.get(sys.argv[1], follow_redirects=True, timeout=20)\n"
                      "sys.exit(0 if r.status_code == 200 and 'Signed in' in r.text else 1)\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def test_login_with_a_browser_stores_the_account_with_its_client(tmp_path, sim):
    home = write_cloudcode_home(tmp_path / "home", sim.url, API_KEY, {}, auth_mode="strict")
    proc = interlock(home, "login", "--login-hint", "noproject", "--timeout", "60",
                     env={"BROWSER": str(fake_browser(tmp_path))})
    out, _ = proc.communicate(timeout=90)
    assert proc.returncode == 0, out
    entries = dict(AccountStore(home / "accounts").entries())
    assert len(entries) == 1
    (account_id, entry), = entries.items()
    assert entry.client == CLIENT and entry.source == "login" and entry.refresh_token.startswith("1//noproject-")
    assert entry.email == "noproject@example.com" and entry.label == entry.email
    assert entry.refresh_token not in out and entry.access_token not in out and account_id in out
    consent = next(r for r in sim.sim.log if r.path == "/o/oauth2/v2/auth")
    assert consent.api_key == "sim-client.apps.example.com"

    # Logging in again as the same person replaces the token instead of adding a second account.
    proc = interlock(home, "login", "--login-hint", "noproject", "--timeout", "60",
                     env={"BROWSER": str(fake_browser(tmp_path))})
    out, _ = proc.communicate(timeout=90)
    assert proc.returncode == 0 and "signed in again" in out
    assert len(dict(AccountStore(home / "accounts").entries())) == 1

    # The logged-in account (without a project yet) serves requests, and can be warmed up.
    gw = RunningGateway(home).start()
    try:
        r = httpx.post(f"{gw.url}/v1beta/models/gemini-2.5-flash:generateContent", timeout=30,
                       headers={"x-goog-api-key": API_KEY},
                       json={"contents": [{"role": "user", "parts": [{"text": "after login"}]}]})
        assert r.status_code == 200 and "after login" in r.text
        assert httpx.post(f"{gw.url}/internal/warmup", json={}, timeout=30).status_code == 401
        warm = httpx.post(f"{gw.url}/internal/warmup", headers={"authorization": f"Bearer {API_KEY}"},
                          json={"account": entry.email}, timeout=60)
        assert warm.status_code == 200 and warm.json()["success"] is True, warm.text
        models = [r["model"] for r in warm.json()["results"]]
        assert {m.split("-")[0] for m in models} == {"claude", "gemini"} and len(models) >= 2
    finally:
        gw.stop()
    warmed = [r for r in sim.sim.log if r.path.endswith(":generateContent") and not r.path.startswith("/down")]
    assert {r.request["generationConfig"]["maxOutputTokens"] for r in warmed} == {1}


def test_headless_login_reads_the_pasted_address(tmp_path, sim):
    home = write_cloudcode_home(tmp_path / "home", sim.url, API_KEY, {})
    proc = interlock(home, "login", "--no-browser", "--timeout", "60", stdin=subprocess.PIPE)
    seen = []
    while not (line := proc.stdout.readline()).startswith("http"):
        assert line, "".join(seen)
        seen.append(line)
    consent = httpx.get(line.strip(), timeout=20)
    assert consent.status_code == 302
    proc.stdin.write(consent.headers["location"] + "\n")
    proc.stdin.flush()
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    (_, entry), = AccountStore(home / "accounts").entries()
    assert entry.refresh_token.startswith("1//sim-") and entry.email.endswith("@example.com")


def test_a_pasted_address_from_another_attempt_is_refused(tmp_path, sim):
    home = write_cloudcode_home(tmp_path / "home", sim.url, API_KEY, {})
    proc = interlock(home, "login", "--no-browser", "--timeout", "60", stdin=subprocess.PIPE)
    out, _ = proc.communicate("http://127.0.0.1:1/oauth2callback?state=other&code=4/0abc\n", timeout=60)
    assert proc.returncode == 1 and "state does not match" in out
    assert not list(AccountStore(home / "accounts").entries())


def test_warmup_command_reports_each_account(tmp_path, sim):
    home = write_cloudcode_home(tmp_path / "home", sim.url, API_KEY,
                                {"good": "1//rt-warm", "dead": "revoked-warm"})
    proc = interlock(home, "warmup")
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "--all" in out
    proc = interlock(home, "warmup", "good")
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0 and out.count("warmed up") == 3, out
    proc = interlock(home, "warmup", "--all", "--model", "gemini-2.5-flash")
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "warmed up" in out and "invalid_grant" in out
    assert AccountStore(home / "accounts").read("dead").enabled is False
