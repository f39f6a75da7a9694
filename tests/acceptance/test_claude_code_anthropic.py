"""Acceptance: the real Claude Code against a gateway (a `mitmdump` subprocess, as a user runs it) whose
Anthropic traffic goes to an Anthropic-compatible upstream (the simulator's Anthropic mode standing in
for z.ai), in `exclusive` dispatch and in `fallback` dispatch behind a failing Google key: a one-shot
prompt and a Read tool round trip, every request passed through with only the model mapped."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from clients import INSTALL_TIMEOUT_S  # noqa: E402
from demo_gateway import running_gateway  # noqa: E402
from test_claude_code import claude_bin, run_claude  # noqa: E402,F401
from upstreams import SimThread, add_anthropic_accounts  # noqa: E402

pytestmark = [pytest.mark.acceptance, pytest.mark.timeout(INSTALL_TIMEOUT_S + 300)]


@pytest.fixture(scope="module", params=["exclusive", "fallback"])
def zai_gateway(request, tmp_path_factory):
    sim = SimThread().start()
    root = tmp_path_factory.mktemp(f"claude-zai-{request.param}")
    home = root / "interlock-home"
    add_anthropic_accounts(home, sim.url, ["zai-acceptance-key"])
    if request.param == "fallback":  # a Google key that always fails: the Anthropic account must take over
        (home / "accounts" / "google.json").write_text('{"kind": "gemini_api_key", "api_key": "sim-503", "label": "g"}')
    config = (f'api_key = "sk-test"\ngemini_base_url = "{sim.url}"\n'
              f'[anthropic]\ndispatch = "{request.param}"\n')
    try:
        with running_gateway(root, config_toml=config, home=home, upstream=sim.url, demo=False) as gw:
            gw.sim = sim  # type: ignore[attr-defined]
            yield gw
    finally:
        sim.stop()


def passed_through(gw) -> list:
    return [r for r in gw.sim.sim.log if r.path == "/v1/messages"]


def test_one_shot_prompt(claude_bin, zai_gateway, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    run = run_claude(claude_bin, home, zai_gateway, tmp_path, "say hi")
    assert isinstance(run.out, dict), f"no JSON on stdout\n{run.report(zai_gateway)}"
    assert run.returncode == 0 and run.out["is_error"] is False, run.report(zai_gateway)
    assert "say hi" in run.out["result"], run.report(zai_gateway)
    sent = passed_through(zai_gateway)
    assert sent and {r.api_key for r in sent} == {"zai-acceptance-key"}
    assert all(r.model.startswith("glm-") for r in sent), [r.model for r in sent]


def test_read_tool_round_trip(claude_bin, zai_gateway, tmp_path):
    home, project = tmp_path / "home", tmp_path / "project"
    home.mkdir()
    project.mkdir()
    notes = project / "notes.txt"
    notes.write_text("The secret word is LYCHEE.\n")
    run = run_claude(claude_bin, home, zai_gateway, project, f"Use Read to read {notes} and tell me the secret word")
    assert isinstance(run.out, dict), f"no JSON on stdout\n{run.report(zai_gateway)}"
    assert run.out["is_error"] is False and "LYCHEE" in run.out["result"], run.report(zai_gateway)
    assert run.out["num_turns"] == 2, run.report(zai_gateway)
