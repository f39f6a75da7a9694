"""Acceptance for Cloud Code: a real gateway with Google OAuth accounts against the simulator's
Cloud Code mode and token endpoint, driven by the official SDKs over real sockets."""

from __future__ import annotations

import json
import time

import anthropic
import httpx
import openai
import pytest
from google import genai
from google.genai import types

from addon.cli import main as cli_main
from addon.pool.store import AccountStore
from cloudcode_home import SimThread, write_cloudcode_home
from harness import API_KEY, RunningGateway


@pytest.fixture
def sim():
    thread = SimThread().start()
    yield thread
    thread.stop()


@pytest.fixture
def gateway_for(tmp_path, sim):
    started: list[RunningGateway] = []

    def start(tokens: dict[str, str], **settings) -> RunningGateway:
        home = write_cloudcode_home(tmp_path / f"home{len(started)}", sim.url, API_KEY, tokens, **settings)
        gw = RunningGateway(home).start()
        started.append(gw)
        return gw

    yield start
    for gw in started:
        gw.stop()


def wait_for(check, what: str, limit_s: float = 20.0):
    """Polls `check` until it returns something truthy (a deadline, not a timing assertion)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what}")


def accounts_list(home, capsys, monkeypatch) -> str:
    monkeypatch.setenv("COLUMNS", "220")
    capsys.readouterr()
    assert cli_main(["accounts", "--home", str(home), "list"]) == 0
    return capsys.readouterr().out


def test_the_three_sdks_answer_and_a_new_account_is_onboarded(gateway_for, sim):
    gw = gateway_for({"a-one": "1//rt-one", "b-two": "1//rt-noproject-two", "c-three": "1//rt-three"},
                     quota_refresh_s=0)
    headers = {"authorization": f"Bearer {API_KEY}"}
    g = genai.Client(api_key=API_KEY, http_options=types.HttpOptions(base_url=gw.url, api_version="v1beta"))
    assert "hello from genai" in g.models.generate_content(model="gemini-2.5-flash", contents="hello from genai").text
    streamed = "".join(c.text or "" for c in g.models.generate_content_stream(
        model="gemini-2.5-flash", contents="streaming hello [[sim chunks=4]]"))
    assert "streaming hello" in streamed
    o = openai.OpenAI(base_url=gw.url + "/v1", api_key=API_KEY, max_retries=0)
    chat = o.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hello from openai"}])
    assert "hello from openai" in chat.choices[0].message.content
    a = anthropic.Anthropic(base_url=gw.url, api_key=API_KEY, max_retries=0)
    msg = a.messages.create(model="claude-sonnet-4-6", max_tokens=256,
                            messages=[{"role": "user", "content": "hello from anthropic"}])
    assert "hello from anthropic" in msg.content[-1].text
    thinking = a.messages.create(model="claude-sonnet-4-6", max_tokens=2048,
                                 thinking={"type": "enabled", "budget_tokens": 1024},
                                 messages=[{"role": "user", "content": "think about claude"}])
    assert thinking.content[0].type == "thinking" and thinking.content[0].signature
    count = httpx.post(f"{gw.url}/v1beta/models/gemini-2.5-flash:countTokens", headers=headers, timeout=30,
                       json={"contents": [{"role": "user", "parts": [{"text": "count these words"}]}]})
    assert count.status_code == 200 and count.json()["totalTokens"] > 0

    generated = sim.generates()
    bodies = [r.request for r in generated if r.status == 200]
    assert len(bodies) >= 5 and all("sessionId" not in b for b in bodies)  # the simulator strips it after checking
    paths = {r.path for r in generated}
    assert "/down/v1internal:streamGenerateContent" in paths and "/v1internal:streamGenerateContent" in paths
    store = AccountStore(gw.home / "accounts")
    used = {r.api_key for r in generated if r.status == 200}
    assert len(used) >= 2, "the conversations are spread over the accounts"
    wait_for(lambda: all(store.read(i).project_id for i in ("a-one", "c-three")) or None, "projects")
    onboard = [r.path for r in sim.sim.log if "onboardUser" in r.path or "/operations/" in r.path]
    if store.read("b-two").project_id:  # it served a request: it was onboarded first
        assert any("onboardUser" in p for p in onboard) and any("/operations/" in p for p in onboard)
        assert store.read("b-two").project_id.startswith("sim-project-")


def test_an_account_without_project_is_onboarded_before_its_first_request(gateway_for, sim):
    gw = gateway_for({"only": "1//rt-noproject-solo"}, quota_refresh_s=0)
    r = httpx.post(f"{gw.url}/v1beta/models/gemini-2.5-flash:generateContent", timeout=30,
                   headers={"authorization": f"Bearer {API_KEY}"},
                   json={"contents": [{"role": "user", "parts": [{"text": "first words"}]}]})
    assert r.status_code == 200, r.text
    log = [r.path for r in sim.sim.log if "v1internal" in r.path and not r.path.startswith("/down")]
    assert log[0] == "/v1internal:loadCodeAssist" and log[1] == "/v1internal:onboardUser"
    assert "/v1internal/operations/" in log[2] and log[-1] == "/v1internal:streamGenerateContent"
    entry = AccountStore(gw.home / "accounts").read("only")
    assert entry.project_id.startswith("sim-project-") and entry.tier == "free-tier"
    sent = next(r for r in sim.sim.log if r.path == "/v1internal:streamGenerateContent")
    assert sent.status == 200


def test_invalid_grant_disables_the_account_and_says_so(gateway_for, sim, capsys, monkeypatch):
    gw = gateway_for({"a-revoked": "revoked-token-1", "b-good": "1//rt-good"}, quota_refresh_s=0)
    for i in range(3):
        r = httpx.post(f"{gw.url}/v1/chat/completions", headers={"authorization": f"Bearer {API_KEY}"}, timeout=30,
                       json={"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": f"question {i}"}]})
        assert r.status_code == 200, r.text
    entry = AccountStore(gw.home / "accounts").read("a-revoked")
    assert entry.enabled is False and "invalid_grant" in entry.disabled_reason
    out = accounts_list(gw.home, capsys, monkeypatch)
    assert "disabled" in out and "invalid_grant" in out and "revoked-token-1" not in out
    served = [r for r in sim.generates() if not r.path.startswith("/down")]
    assert served and all(r.status == 200 for r in served)


def test_a_quota_429_moves_requests_to_another_account_until_the_reset(gateway_for, sim, capsys, monkeypatch):
    tokens = {"a-spent": "1//rt-exhausted1h-spent", "b-fresh": "1//rt-fresh"}
    home_probe = None
    gw = gateway_for(tokens, quota_refresh_s=0)
    home_probe = gw.home
    # b-fresh is known to have less left, so the scheduler starts with a-spent.
    AccountStore(home_probe / "accounts").update("b-fresh", quota={"gemini-2.5-flash": {"remaining": 0.5}})
    time.sleep(1.1)  # the pool re-reads account files at most once a second
    for i in range(4):
        r = httpx.post(f"{gw.url}/v1beta/models/gemini-2.5-flash:generateContent", timeout=30,
                       headers={"authorization": f"Bearer {API_KEY}", "x-interlock-session": f"chat-{i}"},
                       json={"contents": [{"role": "user", "parts": [{"text": f"question {i}"}]}]})
        assert r.status_code == 200, r.text
    spent_token = sim.sim.cloudcode.accounts["1//rt-exhausted1h-spent"]
    answers = [(r.status, sim.sim.oauth.owners.get(r.api_key)) for r in sim.generates()
               if not r.path.startswith("/down")]
    assert answers[0] == (429, "1//rt-exhausted1h-spent")
    assert all(a == (200, "1//rt-fresh") for a in answers[1:]) and len(answers) == 5
    store = AccountStore(gw.home / "accounts")
    entry = wait_for(lambda: (e := store.read("a-spent")).quota and e, "quotas refreshed after the 429")
    reset = entry.quota["gemini-2.5-flash"].reset_at.timestamp()
    assert entry.quota["gemini-2.5-flash"].remaining == 0
    assert reset == pytest.approx(spent_token.first_generate + 3600, abs=2)
    gw.stop()
    state = json.loads((gw.home / "pool-state.json").read_text())
    cooldown = next(c for c in state["cooldowns"] if c["account"] == "a-spent")
    assert cooldown["model"] == "gemini-2.5-flash" and cooldown["until"] == pytest.approx(reset, abs=2)
    out = accounts_list(gw.home, capsys, monkeypatch)
    assert "gemini-flash" in out and "0%" in out and "claude" in out
    assert "sim-project-" in out and "free-tier" in out


def test_models_list_what_the_pool_serves(gateway_for, sim):
    gw = gateway_for({"one": "1//rt-models"}, quota_refresh_s=3600)
    store = AccountStore(gw.home / "accounts")
    wait_for(lambda: store.read("one").quota, "the first quota refresh")
    time.sleep(1.1)
    ids = [m.id for m in openai.OpenAI(base_url=gw.url + "/v1", api_key=API_KEY).models.list()]
    assert "gemini-3-pro-low" in ids and "chat_20706" not in ids  # the first is no built-in model


def test_capacity_errors_rotate_and_a_stale_access_token_is_refreshed(gateway_for, sim):
    gw = gateway_for({"a-busy": "1//rt-capacity5-busy", "b-stale": "1//rt-stale"}, quota_refresh_s=0)
    store = AccountStore(gw.home / "accounts")
    from addon.simulator.cloudcode import project_of

    store.update("b-stale", access_token="ya29.stale-token-never-issued", expires_at=time.time() + 3000,
                 project_id=project_of("1//rt-stale"))  # known project: the generate call meets the stale token
    store.update("b-stale", quota={"gemini-2.5-flash": {"remaining": 0.5}})  # a-busy goes first
    time.sleep(1.1)
    a = anthropic.Anthropic(base_url=gw.url, api_key=API_KEY, max_retries=0)
    with a.messages.stream(model="gemini-2.5-flash", max_tokens=256,
                           messages=[{"role": "user", "content": "who answers?"}]) as stream:
        text = "".join(stream.text_stream)
    assert "who answers" in text
    answers = [(r.status, sim.sim.oauth.owners.get(r.api_key), r.api_key) for r in sim.generates()
               if not r.path.startswith("/down")]
    assert answers[0][:2] == (429, "1//rt-capacity5-busy")  # MODEL_CAPACITY_EXHAUSTED, as an array
    assert answers[1] == (401, None, "ya29.stale-token-never-issued")
    assert answers[2][:2] == (200, "1//rt-stale") and len(answers) == 3
    assert store.read("b-stale").access_token == answers[2][2]  # the refreshed token was saved


def test_a_mid_stream_error_reaches_the_client_as_an_error(gateway_for, sim):
    gw = gateway_for({"only": "1//rt-mid#sim-midstream-error2"}, quota_refresh_s=0)
    o = openai.OpenAI(base_url=gw.url + "/v1", api_key=API_KEY, max_retries=0)
    with pytest.raises(openai.APIError):
        for _ in o.chat.completions.create(model="gemini-2.5-flash", stream=True, messages=[
                {"role": "user", "content": "a long answer please [[sim chunks=6]]"}]):
            pass
