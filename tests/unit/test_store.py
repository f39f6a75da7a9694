"""Account files: validation, atomic writes under the lock, broken files left alone, crash safety."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from addon.pool.accounts import load_dir
from addon.pool.store import AccountStore, GeminiKeyFile, OAuthFile, StoreError, parse

REPO = Path(__file__).resolve().parents[2]


def test_three_kinds_round_trip(tmp_path):
    store = AccountStore(tmp_path / "accounts")
    a = store.create(GeminiKeyFile(kind="gemini_api_key", api_key="AIzaSyA-secret-1234", label="work"))
    b = store.create(OAuthFile(kind="google_oauth", refresh_token="1//0refresh-secret-9876", client_id="cid"))
    c = store.create(parse({"kind": "anthropic_key", "api_key": "zai-secret-5555", "base_url": "https://x"}))
    assert a == "work" and b.startswith("google-") and c.startswith("anthropic-")
    accounts, problems = store.load()
    assert problems == []
    by_id = {x.id: x for x in accounts}
    assert by_id["work"].secret == "AIzaSyA-secret-1234" and by_id["work"].label == "work"
    assert by_id[b].kind == "google_oauth" and by_id[b].refresh_token == "1//0refresh-secret-9876"
    assert by_id[b].secret == "" and "secret" not in repr(by_id[b])
    for path in (tmp_path / "accounts").iterdir():
        assert "secret" not in path.name
        if path.suffix == ".json":
            assert path.stat().st_mode & 0o077 == 0, "account files are private"


def test_duplicate_secret_is_refused(tmp_path):
    store = AccountStore(tmp_path)
    store.create(GeminiKeyFile(kind="gemini_api_key", api_key="AIza-dup-0001"))
    with pytest.raises(StoreError) as e:
        store.create(GeminiKeyFile(kind="gemini_api_key", api_key="AIza-dup-0001", label="again"))
    assert "already stored" in str(e.value) and "AIza-dup" not in str(e.value)


def test_broken_file_is_reported_by_name_skipped_and_never_rewritten(tmp_path):
    store = AccountStore(tmp_path)
    good = store.create(GeminiKeyFile(kind="gemini_api_key", api_key="AIza-good-0001"))
    (tmp_path / "hand.json").write_text('{"kind": "gemini_api_key", "api_key": ')
    (tmp_path / "wrong.json").write_text('{"kind": "gemini_api_key", "api_key": "", "weight": -1}')
    (tmp_path / "alien.json").write_text('{"kind": "carrier_pigeon"}')
    accounts, problems = load_dir(tmp_path)
    assert [a.id for a in accounts] == [good]
    text = "\n".join(problems)
    assert "hand.json: not readable JSON" in text
    assert "wrong.json: invalid field(s)" in text and "api_key" in text and "weight" in text
    assert "alien.json" in text
    before = (tmp_path / "hand.json").read_bytes()
    with pytest.raises(StoreError, match="left untouched"):
        store.update("hand", enabled=False)
    assert (tmp_path / "hand.json").read_bytes() == before


def test_update_keeps_unknown_keys_and_validates(tmp_path):
    (tmp_path / "x.json").write_text(json.dumps({"kind": "gemini_api_key", "api_key": "AIza-1234-5678",
                                                 "note": "mine"}))
    store = AccountStore(tmp_path)
    store.update("x", enabled=False, disabled_reason="by hand")
    doc = json.loads((tmp_path / "x.json").read_text())
    assert doc["note"] == "mine" and doc["enabled"] is False and doc["disabled_reason"] == "by hand"
    with pytest.raises(StoreError, match="weight"):
        store.update("x", weight=0)
    with pytest.raises(StoreError, match="not an account id"):
        store.update("../etc/passwd", enabled=False)


def test_stale_temp_files_are_ignored_and_cleaned(tmp_path):
    store = AccountStore(tmp_path)
    (tmp_path / ".a.json.123.beef.tmp").write_text("{half")
    assert store.load() == ([], [])
    store.create(GeminiKeyFile(kind="gemini_api_key", api_key="AIza-0000-1111"))
    assert not list(tmp_path.glob(".*.tmp"))


WRITER = """
import sys, itertools
sys.path.insert(0, {repo!r})
from addon.pool.store import AccountStore
store = AccountStore(__import__("pathlib").Path({directory!r}))
print("ready", flush=True)
for i in itertools.count():
    store.update("acct-%d" % (i % 3), label="label-%d-" % i + "x" * (i % 5000), weight=1 + i % 7)
"""


def test_sigkill_during_writes_leaves_every_file_valid(tmp_path):
    store = AccountStore(tmp_path)
    for i in range(3):
        store.create(GeminiKeyFile(kind="gemini_api_key", api_key=f"AIza-crash-{i:04d}"), f"acct-{i}")
    rng = random.Random(6)
    for _ in range(12):
        proc = subprocess.Popen([sys.executable, "-c", WRITER.format(repo=str(REPO), directory=str(tmp_path))],
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.05))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        accounts, problems = store.load()
        assert problems == [] and sorted(a.id for a in accounts) == ["acct-0", "acct-1", "acct-2"]
    store.update("acct-0", enabled=False)  # the lock of a killed writer is free again
