"""`interlock accounts …` end to end on a temporary home, and imports of the sample files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from addon.cli import main
from addon.pool.scheduler import Pool
from addon.pool.state import StateFile
from addon.pool.store import AccountStore

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "accounts"


@pytest.fixture
def run(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")

    def run(*argv: str) -> tuple[int, str]:
        code = main(["accounts", "--home", str(tmp_path), *argv])
        captured = capsys.readouterr()
        return code, captured.out + captured.err

    run.home = tmp_path
    return run


def test_add_list_disable_enable_remove(run):
    assert run("add", "--api-key", "AIzaSyEXAMPLE-key-0001", "--label", "work")[0] == 0
    code, out = run("add", "--refresh-token", "1//0EXAMPLE-refresh-0002", "--client-id", "my-client")
    assert code == 0 and "1//0…0002" in out
    code, out = run("add", "--api-key", "AIzaSyEXAMPLE-key-0001")
    assert code == 1 and "already stored as account work" in out and "EXAMPLE-key" not in out
    assert run("disable", "work", "--reason", "holiday")[0] == 0
    code, out = run("list")
    assert code == 0 and "work" in out and "disabled" in out and "holiday" in out
    assert "AIzaSyEXAMPLE-key-0001" not in out and "AIza…0001" in out
    assert run("enable", "work")[0] == 0
    assert AccountStore(run.home / "accounts").read("work").enabled is True
    assert run("remove", "work")[0] == 0
    assert run("remove", "work")[0] == 1


def test_list_shows_cooldowns_usage_and_quota(run):
    run("import", str(SAMPLES / "gemini-cli" / "oauth_creds.json"))
    run("add", "--api-key", "AIzaSyEXAMPLE-key-0003", "--label", "k3")
    pool = Pool(state=StateFile(run.home / "pool-state.json"), source=AccountStore(run.home / "accounts"))
    k3 = pool.get("k3")
    pool.pick("gemini-2.5-flash")
    pool.cool_down(k3, "gemini-2.5-flash", 7200, "quota exhausted")
    pool.flush()  # the state file is written on a writer thread; wait for it as a gateway does at exit
    run("import", str(SAMPLES / "antigravity"))
    code, out = run("list")
    assert "gemini-2.5-flash: 1h59m" in out or "gemini-2.5-flash: 2h00m" in out
    assert "gemini-pro" in out and "15%" in out and "claude" in out and "80%" in out
    assert "cli@example.com" in out


def test_why_explains_each_account(run):
    run("add", "--api-key", "AIzaSyEXAMPLE-key-0004", "--label", "flash-only", "--models", "gemini-*flash*")
    run("add", "--api-key", "AIzaSyEXAMPLE-key-0005", "--label", "off")
    run("disable", "off")
    run("import", str(SAMPLES / "gemini-cli"))
    code, out = run("why", "gemini-2.5-pro")
    assert "not capable of gemini-2.5-pro" in out and "disabled" in out
    assert "cli-example.com would serve it" in out  # the Google account, through Cloud Code
    run("disable", "cli-example.com")
    code, out = run("why", "gemini-2.5-flash")
    assert "flash-only would serve it" in out.replace("→ ", "")


def test_import_antigravity_index_and_account_files(run):
    code, out = run("import", str(SAMPLES / "antigravity" / "accounts.json"))
    assert "2 account(s) imported" in out and "deadbeef-0000-4000-8000-000000000000.json" in out
    accounts = {a.email: a for a in AccountStore(run.home / "accounts").load()[0]}
    ada, bob = accounts["ada@example.com"], accounts["bob@example.com"]
    assert ada.kind == "google_oauth" and ada.enabled and ada.refresh_token == "1//0SAMPLE_REFRESH_ADA"
    assert ada.quota_for("gemini-3-pro-high").remaining == pytest.approx(0.15)
    assert ada.quota_for("claude-sonnet-4-6").reset_at is not None
    assert not bob.enabled and "invalid_grant" in bob.disabled_reason
    code, out = run("import", str(SAMPLES / "antigravity" / "accounts" / "3f1c2a6e-8d4b-4c1e-9a7f-0b2d4e6f8a10.json"))
    assert "already stored" in out and "0 account(s) imported" in out
    for path in (run.home / "accounts").glob("*.json"):
        assert "SAMPLE" not in path.name


def test_import_gemini_cli_creds(run):
    code, out = run("import", str(SAMPLES / "gemini-cli" / "oauth_creds.json"))
    assert code == 0 and "cli@example.com" in out
    (account,) = AccountStore(run.home / "accounts").load()[0]
    assert account.expires_at == pytest.approx(1760003599) and account.secret == "ya29.SAMPLE_GEMINI_CLI_ACCESS"


def test_import_refuses_unknown_files(run, tmp_path):
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"hello": "world"}))
    code, out = run("import", str(other))
    assert code == 1 and "neither an Antigravity Tools nor a Gemini CLI account file" in out
