"""Acceptance: the real Codex CLI (npm `@openai/codex`, pinned; a Rust binary inside the package) against the
gateway run as a user runs it.

The gateway is a `mitmdump -s addon/gateway.py … --set interlock_demo=true` subprocess (demo mode: the built-in
simulator answers, no network). Codex runs headless as reference/clients.md §3.1 and §7 say: `env -i`, a throw-away
HOME and CODEX_HOME whose config.toml declares a custom provider (`wire_api = "responses"`, base URL with `/v1`,
key from `env_key`), `codex exec --json` with analytics and plugins off. The model is a name neither Codex's catalog
nor the upstream knows (`my-local-model`); the gateway's `model_mapping` sends it to a thinking Gemini model, so
every turn carries reasoning items whose thought signatures Codex must hand back through `encrypted_content`.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from clients import INSTALL_TIMEOUT_S, ensure_npm_client  # noqa: E402
from demo_gateway import Gateway, client_path, run_cli, running_gateway  # noqa: E402

CODEX = ("@openai/codex", "0.169.0")  # the version reference/clients.md §3 describes
MODEL = "my-local-model"
CLI_TIMEOUT_S = 120

pytestmark = [pytest.mark.acceptance, pytest.mark.timeout(INSTALL_TIMEOUT_S + 300)]


@pytest.fixture(scope="session")
def codex_bin() -> Path:
    return ensure_npm_client(*CODEX)


@pytest.fixture(scope="module")
def live_gateway(tmp_path_factory):
    mapping = f'[model_mapping]\n"{MODEL}" = "gemini-2.5-flash"\n'
    with running_gateway(tmp_path_factory.mktemp("codex-gateway"), config_toml=mapping) as gw:
        yield gw


@dataclass
class CodexRun:
    events: list[dict]
    stdout: str
    stderr: str
    returncode: int | None

    def messages(self) -> list[str]:
        return [e["item"]["text"] for e in self.events
                if e.get("type") == "item.completed" and e.get("item", {}).get("type") == "agent_message"]

    def commands(self) -> list[dict]:
        return [e["item"] for e in self.events
                if e.get("type") == "item.completed" and e.get("item", {}).get("type") == "command_execution"]

    def report(self, gw: Gateway) -> str:
        return (f"exit {self.returncode}\n--- stdout\n{self.stdout[-6000:]}\n--- stderr\n{self.stderr[-4000:]}\n"
                f"--- gateway log\n{gw.log_tail()}")


def run_codex(bin_dir: Path, home: Path, gw: Gateway, cwd: Path, prompt: str) -> CodexRun:
    codex_home = home / ".codex"
    codex_home.mkdir(parents=True, exist_ok=True)
    (codex_home / "config.toml").write_text(
        f'model = "{MODEL}"\nmodel_provider = "gw"\n\n[model_providers.gw]\nname = "interlock"\n'
        f'base_url = "{gw.url}/v1"\nenv_key = "GW_API_KEY"\nwire_api = "responses"\n'
        "request_max_retries = 0\nstream_max_retries = 0\n")
    env = {  # the whole environment, as with `env -i`
        "PATH": client_path(bin_dir), "HOME": str(home), "CODEX_HOME": str(codex_home),
        "TERM": "xterm", "GW_API_KEY": "sk-test",
    }
    cmd = [str(bin_dir / "codex"), "exec", "--skip-git-repo-check", "--json", "-c", "analytics.enabled=false",
           "--disable", "plugins", "--disable", "remote_plugin", prompt]
    stdout, stderr, returncode, _ = run_cli(cmd, cwd, env, CLI_TIMEOUT_S)
    events = []
    for line in stdout.splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            pass
    return CodexRun(events, stdout, stderr, returncode)


def test_one_shot_prompt(codex_bin, live_gateway, tmp_path):
    home, project = tmp_path / "home", tmp_path / "project"
    project.mkdir()
    run = run_codex(codex_bin, home, live_gateway, project, "say hi")
    assert run.returncode == 0, run.report(live_gateway)
    assert any("say hi" in m for m in run.messages()), run.report(live_gateway)
    assert any(e.get("type") == "turn.completed" for e in run.events), run.report(live_gateway)


def test_shell_tool_round_trip(codex_bin, live_gateway, tmp_path):
    home, project = tmp_path / "home", tmp_path / "project"
    project.mkdir()
    notes = project / "notes.txt"
    notes.write_text("The secret word is PAPAYA.\n")
    run = run_codex(codex_bin, home, live_gateway, project,
                    f"Use exec_command to read {notes} and tell me the secret word")
    assert run.returncode == 0, run.report(live_gateway)
    # PAPAYA is only in the file: it reaches the answer only through function_call exec_command → Codex runs
    # `cat` → function_call_output → the second turn (which hands back the first turn's signed reasoning).
    assert any(f"cat {notes}" in c.get("command", "") for c in run.commands()), run.report(live_gateway)
    assert any("PAPAYA" in m for m in run.messages()), run.report(live_gateway)
