from addon.pool.sessions import session_key


def gemini(*turns: tuple[str, str]) -> dict:
    return {"contents": [{"role": r, "parts": [{"text": t}]} for r, t in turns]}


def test_later_turns_of_a_conversation_share_its_key():
    first = session_key({}, gemini(("user", "plan a trip to Lisbon")))
    later = session_key({}, gemini(("user", "plan a trip to Lisbon"), ("model", "ok"), ("user", "and Porto?")))
    assert first == later and first.startswith("sid-")
    assert first != session_key({}, gemini(("user", "plan a trip to Rome")))


def test_headers_and_metadata_win_over_the_first_turn():
    doc = gemini(("user", "same text"))
    assert session_key({"x-claude-code-session-id": "a"}, doc) != session_key({"x-claude-code-session-id": "b"}, doc)
    assert session_key({"session-id": "codex-1"}, {}) == session_key({"session-id": "codex-1"}, {"x": 1})
    anthropic = {"metadata": {"user_id": "u1"}, "messages": [{"role": "user", "content": "hi there"}]}
    assert session_key({}, anthropic) != session_key({}, {**anthropic, "metadata": {"user_id": "u2"}})
    openai = {"prompt_cache_key": "k", "input": "hello"}
    assert session_key({}, openai) == session_key({}, {**openai, "input": "other"})


def test_system_reminders_are_not_a_conversation():
    doc = {"messages": [{"role": "user", "content": [{"type": "text", "text": "<system-reminder>x</system-reminder>"}]},
                        {"role": "user", "content": "the real question"}]}
    assert session_key({}, doc) == session_key({}, {"messages": [{"role": "user", "content": "the real question"}]})
    assert session_key({}, {}) is None
