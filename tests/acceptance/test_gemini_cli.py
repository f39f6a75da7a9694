"""Acceptance: the real Gemini CLI (npm `@google/gemini-cli`, pinned) against the gateway run as a user runs it.

The gateway is a `mitmdump -s addon/gateway.py … --set interlock_demo=true` subprocess (demo mode: the
built-in simulator answers, no network). The CLI runs headless under `env -i` with a throw-away HOME whose
settings.json selects API-key auth and turns usage statistics and telemetry off (reference/clients.md §4, §7).
The CLI exits 0 even when the model call failed, so every check is on its `--output-format json` output.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from clients import INSTALL_TIMEOUT_S, ensure_npm_client  # noqa: E402
from demo_gateway import CliRun, Gateway, client_path, run_cli, running_gateway  # noqa: E402

GEMINI_CLI = ("@google/gemini-cli", "0.61.0")
MODEL = "gemini-2.5-flash"  # pinned with -m: no router call, one streamGenerateContent per turn
CLI_TIMEOUT_S = 90
SETTINGS = {
    "security": {"auth": {"selectedType": "gemini-api-key"}},  # else GOOGLE_GEMINI_BASE_URL ⇒ auth "gateway" ⇒ exit 41
    "privacy": {"usageStatisticsEnabled": False},  # no Clearcut calls to play.googleapis.com
    "telemetry": {"enabled": False},
}

pytestmark = [pytest.mark.acceptance, pytest.mark.timeout(INSTALL_TIMEOUT_S + 300)]


@pytest.fixture(scope="session")
def gemini_bin() -> Path:
    return ensure_npm_client(*GEMINI_CLI)


@pytest.fixture(scope="module")
def live_gateway(tmp_path_factory) -> Gateway:
    with running_gateway(tmp_path_factory.mktemp("gemini-gateway")) as gw:
        yield gw


@pytest.fixture(scope="module")
def gemini_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("gemini-home")
    (home / ".gemini").mkdir()
    (home / ".gemini" / "settings.json").write_text(json.dumps(SETTINGS))
    return home



def run_gemini(bin_dir: Path, home: Path, gw: Gateway, cwd: Path, prompt: str) -> CliRun:
    env = {  # the whole environment, as with `env -i`
        "PATH": client_path(bin_dir), "HOME": str(home), "TERM": "xterm",
        "GEMINI_API_KEY": "test-key", "GOOGLE_GEMINI_BASE_URL": gw.url,  # no /v1beta: the SDK adds it
    }
    cmd = [str(bin_dir / "gemini"), "-p", prompt, "-m", MODEL, "--output-format", "json", "--skip-trust"]
    stdout, stderr, returncode, seconds = run_cli(cmd, cwd, env, CLI_TIMEOUT_S)
    try:
        out = json.loads(stdout)
    except ValueError:
        out = None
    print(f"[acceptance] gemini -p {prompt[:40]!r}: {seconds:.1f} s", file=sys.stderr)
    return CliRun(out, stdout, stderr, returncode, seconds)


def _api_stats(run: CliRun) -> dict:
    return run.out["stats"]["models"][MODEL]["api"]


def test_one_shot_prompt(gemini_bin, gemini_home, live_gateway, tmp_path):
    run = run_gemini(gemini_bin, gemini_home, live_gateway, tmp_path, "say hi")
    assert isinstance(run.out, dict), f"no JSON on stdout\n{run.report(live_gateway)}"
    assert "error" not in run.out, run.report(live_gateway)
    response = run.out.get("response")
    assert isinstance(response, str) and response.strip(), run.report(live_gateway)
    # One streamGenerateContent, no retries (a missing finishReason or empty text would make the CLI retry).
    api = _api_stats(run)
    assert (api["totalRequests"], api["totalErrors"]) == (1, 0), run.report(live_gateway)


def test_tool_round_trip(gemini_bin, gemini_home, live_gateway, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("The secret word is PAPAYA.\n")
    run = run_gemini(gemini_bin, gemini_home, live_gateway, tmp_path,
                     f"Use read_file to read {notes} and tell me the secret word")
    assert isinstance(run.out, dict), f"no JSON on stdout\n{run.report(live_gateway)}"
    assert "error" not in run.out, run.report(live_gateway)
    # PAPAYA is only in the file: it reaches the answer only through functionCall → read_file → functionResponse.
    assert "PAPAYA" in (run.out.get("response") or ""), run.report(live_gateway)
    tools = run.out["stats"]["tools"]
    assert tools["byName"].get("read_file", {}).get("success", 0) >= 1, run.report(live_gateway)
    assert tools["totalFail"] == 0, run.report(live_gateway)
    # Turn 1 answers with the functionCall, turn 2 (carrying the functionResponse) with text.
    api = _api_stats(run)
    assert (api["totalRequests"], api["totalErrors"]) == (2, 0), run.report(live_gateway)
