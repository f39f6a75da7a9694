"""Acceptance: the real Claude Code against a gateway (a `mitmdump` subprocess, as a user runs it)
whose accounts are Google OAuth accounts served by the simulator's Cloud Code mode: tokens from
the simulator's token endpoint, a project found (or onboarded) per account, Claude-family answers
with signed thinking through the Gemini envelope, and the signatures echoed back in the tool round."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from clients import INSTALL_TIMEOUT_S  # noqa: E402
from cloudcode_home import SimThread, write_cloudcode_home  # noqa: E402
from demo_gateway import running_gateway  # noqa: E402
from test_claude_code import claude_bin, run_claude  # noqa: E402,F401

pytestmark = [pytest.mark.acceptance, pytest.mark.timeout(INSTALL_TIMEOUT_S + 300)]


@pytest.fixture(scope="module")
def cloudcode_gateway(tmp_path_factory):
    sim = SimThread().start()
    root = tmp_path_factory.mktemp("claude-cloudcode")
    home = write_cloudcode_home(root / "interlock-home", sim.url, "sk-test-cloudcode",
                                {"one": "1//rt-claude-one", "two": "1//rt-noproject-claude-two"})
    try:
        with running_gateway(root, home=home, upstream=sim.url, demo=False) as gw:
            gw.sim = sim  # type: ignore[attr-defined]
            yield gw
    finally:
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
