"""Acceptance: the real Claude Code against a gateway (a `mitmdump` subprocess, as a user runs it)
whose accounts are Google OAuth accounts served by the simulator's Cloud Code mode: tokens from
the simulator's token endpoint, a project found (or onboarded) per account, Claude-family answers
with signed thinking through the Gemini envelope, and the signatures echoed back in the tool round."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from clients import INSTALL_TIMEOUT_S, REPO  # noqa: E402
from cloudcode_home import SimThread, write_cloudcode_home  # noqa: E402
from test_claude_code import HEALTH_TIMEOUT_S, Gateway, _free_port, claude_bin, run_claude  # noqa: E402,F401

pytestmark = [pytest.mark.acceptance, pytest.mark.timeout(INSTALL_TIMEOUT_S + 300)]


@pytest.fixture(scope="module")
def cloudcode_gateway(tmp_path_factory):
    sim = SimThread().start()
    root = tmp_path_factory.mktemp("claude-cloudcode")
    home = write_cloudcode_home(root / "interlock-home", sim.url, "sk-test-cloudcode",
                                {"one": "1//rt-claude-one", "two": "1//rt-noproject-claude-two"})
    port = _free_port()
    log = root / "mitmdump.log"
    cmd = [str(REPO / ".venv" / "bin" / "mitmdump"), "-q", "-s", str(REPO / "addon" / "gateway.py"),
           "--mode", f"reverse:{sim.url}@127.0.0.1:{port}", "--set", f"interlock_home={home}"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=root,
                                start_new_session=True)
    gw = Gateway(f"http://127.0.0.1:{port}", log)
    gw.sim = sim  # type: ignore[attr-defined]
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
        sim.stop()


def test_one_shot_prompt_through_cloud_code(claude_bin, cloudcode_gateway, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    run = run_claude(claude_bin, home, cloudcode_gateway, tmp_path, "say hi")
    assert isinstance(run.out, dict), f"no JSON on stdout\n{run.report(cloudcode_gateway)}"
    assert run.returncode == 0 and run.out["is_error"] is False, run.report(cloudcode_gateway)
    assert "say hi" in run.out["result"], run.report(cloudcode_gateway)
    generated = [r for r in cloudcode_gateway.sim.sim.log if r.path == "/v1internal:streamGenerateContent"]
    assert generated and all(r.model.startswith("claude-") or r.model.startswith("gemini-") for r in generated)


def test_read_tool_round_trip_through_cloud_code(claude_bin, cloudcode_gateway, tmp_path):
    home, project = tmp_path / "home", tmp_path / "project"
    home.mkdir()
    project.mkdir()
    notes = project / "notes.txt"
    notes.write_text("The secret word is GUAVA.\n")
    run = run_claude(claude_bin, home, cloudcode_gateway, project,
                     f"Use Read to read {notes} and tell me the secret word")
    assert isinstance(run.out, dict), f"no JSON on stdout\n{run.report(cloudcode_gateway)}"
    assert run.out["is_error"] is False and "GUAVA" in run.out["result"], run.report(cloudcode_gateway)
