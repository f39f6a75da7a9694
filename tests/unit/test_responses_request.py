"""Golden tests for Responses request → hub: the requests Codex CLI 0.169.0 sent in the captures
(first turn, and the tool run's second turn with function_call + function_call_output), and one
request using every feature we translate. Plus the refusals, thought signatures carried through
`encrypted_content`, and the conversation store. `INTERLOCK_REGOLD=1` rewrites the goldens.
"""

import json
from pathlib import Path

import pytest

from addon.conversations import ResponseStore
from addon.errors import ClientError
from addon.protocols import openai_responses, responses_stream
from addon.protocols.openai_responses import Prior
from goldens import Golden

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"
GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "responses"
MODEL = "gemini-2.5-flash"


def codex_requests() -> dict[str, dict]:
    found: dict[str, dict] = {}
    for line in (SHARED / "clients" / "codex.jsonl").read_text().splitlines():
        record = json.loads(line)
        if (record.get("scenario") == "codex-tool" and record.get("method") == "POST"
                and record.get("path") == "/v1/responses"):
            turn = "codex_tool_turn2" if len(found) else "codex_turn1"
            found[turn] = record["body"]
    return found


def check_golden(name: str, doc: object) -> None:
    Golden(GOLDEN).check(name, json.dumps(doc, indent=2, ensure_ascii=False).encode() + b"\n")


RICH = {
    "model": "gpt-5.1-codex", "instructions": "Be brief.", "stream": True, "store": True,
    "temperature": 0.5, "top_p": 0.9, "max_output_tokens": 512, "parallel_tool_calls": False,
    "reasoning": {"effort": "low", "summary": "auto"}, "include": ["reasoning.encrypted_content"],
    "prompt_cache_key": "thread-1", "metadata": {"k": "v"},
    "text": {"format": {"type": "json_schema", "name": "answer", "schema": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}, "strict": True}},
    "tools": [
        {"type": "function", "name": "exec_command", "description": "Run a command", "strict": False,
         "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}, "required": ["cmd"],
                        "additionalProperties": False}},
        {"type": "custom", "name": "apply_patch", "description": "Patch files",
         "format": {"type": "grammar", "syntax": "lark", "definition": "start: /.+/"}},
        {"type": "namespace", "name": "multi_agent_v1", "description": "agents",
         "tools": [{"type": "function", "name": "spawn_agent", "parameters": {
             "type": "object", "properties": {"task": {"type": "string"}}}}]},
        {"type": "local_shell"},
        {"type": "web_search", "external_web_access": False},
    ],
    "tool_choice": "auto",
    "input": [
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "You are Codex."}]},
        {"role": "user", "content": "look at this"},
        {"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "and this image"},
            {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo="},
            {"type": "input_image", "image_url": "https://example.com/cat.webp"}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Looking."}]},
        {"type": "function_call", "id": "fc_1", "call_id": "call_a", "name": "exec_command",
         "arguments": "{\"cmd\":\"ls\"}", "status": "completed"},
        {"type": "custom_tool_call", "call_id": "call_b", "name": "apply_patch", "input": "*** Begin Patch"},
        {"type": "local_shell_call", "id": "lsh_1", "call_id": "call_c", "status": "completed",
         "action": {"type": "exec", "command": ["pwd"], "env": {}, "working_directory": "/tmp"}},
        {"type": "function_call", "call_id": "call_d", "name": "spawn_agent", "namespace": "multi_agent_v1",
         "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_a", "output": "a.txt\nb.txt"},
        {"type": "custom_tool_call_output", "call_id": "call_b", "output": [{"type": "input_text", "text": "ok"}]},
        {"type": "local_shell_call_output", "id": "call_c", "output": "/tmp"},
        {"type": "function_call_output", "call_id": "call_d", "output": "spawned"},
        {"type": "web_search_call", "id": "ws_1", "status": "completed", "action": {"type": "search", "query": "x"}},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "now answer"}]},
    ],
}


@pytest.mark.parametrize("turn", ["codex_turn1", "codex_tool_turn2"])
def test_codex_captures(turn):
    doc = codex_requests()[turn]
    asked = openai_responses.to_hub(doc, MODEL)
    check_golden(f"{turn}.hub.json", asked.body)
    assert asked.stream and asked.encrypted and not asked.single_call
    names = [d["name"] for d in asked.body["tools"][0]["functionDeclarations"]]
    assert "exec_command" in names and "multi_agent_v1.spawn_agent" in names
    assert asked.body["generationConfig"]["thinkingConfig"] == {"includeThoughts": True}
    assert "You are a coding agent" in asked.body["systemInstruction"]["parts"][0]["text"]


def test_codex_tool_turn_pairs_the_output_with_its_call():
    contents = openai_responses.to_hub(codex_requests()["codex_tool_turn2"], MODEL).body["contents"]
    call = contents[-2]["parts"][-1]["functionCall"]
    answer = contents[-1]["parts"][-1]["functionResponse"]
    assert call["name"] == answer["name"] == "exec_command" and call["id"] == answer["id"]
    assert "PAPAYA" in answer["response"]["output"]


def test_every_feature():
    asked = openai_responses.to_hub(RICH, MODEL)
    check_golden("rich.hub.json", asked.body)
    assert asked.single_call and asked.tools.kinds == {
        "exec_command": "function", "apply_patch": "custom", "multi_agent_v1.spawn_agent": "function",
        "local_shell": "local_shell"}
    assert asked.echo["prompt_cache_key"] == "thread-1" and asked.echo["metadata"] == {"k": "v"}
    assert asked.conversation.system == [{"text": "You are Codex."}]


def test_web_search_alone_becomes_grounding():
    body = openai_responses.to_hub({"model": "m", "input": "news?", "tools": [{"type": "web_search"}]}, MODEL).body
    assert body["tools"] == [{"googleSearch": {}}]


@pytest.mark.parametrize("patch,param", [
    ({"input": [{"type": "telepathy"}]}, "input[0].type"),
    ({"input": [{"type": "function_call_output", "call_id": "call_nope", "output": "x"}]}, "input[0].call_id"),
    ({"input": [{"type": "message", "role": "robot", "content": "x"}]}, "input[0].role"),
    ({"input": [{"role": "user", "content": [{"type": "output_audio"}]}]}, "input[0].content[0].type"),
    ({"input": None}, "input"),
    ({"model": ""}, "model"),
    ({"tools": [{"type": "computer_use_preview"}]}, "tools[0].type"),
    ({"tools": [{"type": "function", "name": "bad name!"}]}, "tools[0].name"),
    ({"tool_choice": {"type": "function", "name": "missing"}}, "tool_choice.name"),
    ({"text": {"format": {"type": "yaml"}}}, "text.format.type"),
    ({"include": ["everything"]}, "include[0]"),
    ({"reasoning": {"effort": "huge"}}, "reasoning.effort"),
    ({"max_output_tokens": 0}, "max_output_tokens"),
    ({"temperature": "hot"}, "temperature"),
    ({"store": "yes"}, "store"),
])
def test_bad_requests_name_the_field(patch, param):
    with pytest.raises(ClientError) as e:
        openai_responses.to_hub({"model": "gpt-5", "input": "hi", **patch}, MODEL)
    assert e.value.param == param and e.value.status == 400


def test_unknown_item_type_message_names_it():
    with pytest.raises(ClientError) as e:
        openai_responses.to_hub({"model": "m", "input": [{"type": "telepathy"}]}, MODEL)
    assert "'telepathy'" in e.value.message


def _first_turn(parts: list[dict], upstream_model: str = MODEL) -> tuple[dict, list[dict]]:
    m = responses_stream.ResponsesEvents("resp_1", 1, "gpt-5", upstream_model, encrypted=True)
    m.feed({"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP"}]})
    response = m.close()[-1]["response"]
    return response, m.model_parts


def test_signatures_round_trip_through_encrypted_content():
    response, _ = _first_turn([{"text": "Plan.", "thought": True},
                               {"functionCall": {"name": "exec_command", "args": {"cmd": "ls"}},
                                "thoughtSignature": "sig-for-the-call-0123456789"}])
    reasoning, call = response["output"]
    assert reasoning["encrypted_content"].startswith(openai_responses.BLOB_PREFIX)
    history = [{"role": "user", "content": "list files"}, reasoning, call,
               {"type": "function_call_output", "call_id": call["call_id"], "output": "a.txt"}]
    contents = openai_responses.to_hub({"model": "gpt-5", "input": history}, MODEL).body["contents"]
    assert contents[1] == {"role": "model", "parts": [{
        "functionCall": {"name": "exec_command", "args": {"cmd": "ls"}, "id": call["call_id"]},
        "thoughtSignature": "sig-for-the-call-0123456789"}]}
    # another model family never gets this family's signature
    other = openai_responses.to_hub({"model": "gpt-5", "input": history}, "claude-sonnet-4-6").body["contents"]
    assert "thoughtSignature" not in other[1]["parts"][0]


def test_signature_on_the_first_answer_part_goes_back_there():
    response, _ = _first_turn([{"text": "Think.", "thought": True}, {"text": "Hi!", "thoughtSignature": "s" * 20}])
    contents = openai_responses.to_hub({"model": "m", "input": [{"role": "user", "content": "hi"}, *response["output"],
                                                                {"role": "user", "content": "again"}]}, MODEL).body["contents"]
    assert contents[1]["parts"] == [{"text": "Hi!", "thoughtSignature": "s" * 20}]


def test_claude_thinking_comes_back_as_a_signed_thought():
    response, _ = _first_turn([{"text": "Hmm.", "thought": True, "thoughtSignature": "c" * 40}, {"text": "Done."}],
                              "claude-sonnet-4-6")
    history = [{"role": "user", "content": "q"}, *response["output"], {"role": "user", "content": "more"}]
    contents = openai_responses.to_hub({"model": "m", "input": history}, "claude-sonnet-4-6").body["contents"]
    assert contents[1]["parts"] == [{"text": "Hmm.", "thought": True, "thoughtSignature": "c" * 40}, {"text": "Done."}]


def test_foreign_encrypted_content_is_ignored():
    item = {"type": "reasoning", "id": "rs_x", "summary": [], "encrypted_content": "gAAAAB-openai-blob"}
    contents = openai_responses.to_hub({"model": "m", "input": [{"role": "user", "content": "q"}, item,
                                                                {"role": "assistant", "content": "a"}]}, MODEL).body
    assert contents["contents"][1] == {"role": "model", "parts": [{"text": "a"}]}


def test_prior_conversation_is_continued_and_its_calls_can_be_answered():
    prior = Prior([{"text": "sys"}], [{"role": "user", "parts": [{"text": "q"}]},
                                      {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {},
                                                                                    "id": "call_1"}}]}])
    asked = openai_responses.to_hub({"model": "m", "instructions": "new rules", "input": [
        {"type": "function_call_output", "call_id": "call_1", "output": "42"}]}, MODEL, prior)
    assert asked.body["systemInstruction"] == {"parts": [{"text": "new rules"}, {"text": "sys"}]}
    assert asked.body["contents"][-1]["parts"][0]["functionResponse"]["name"] == "f"
    assert prior.contents[-1]["role"] == "model" and len(prior.contents) == 2  # the stored prior is not changed


def test_store_keeps_bounded_rows_with_a_ttl_across_reopening(tmp_path):
    now = [1000.0]
    store = ResponseStore(tmp_path / "r.sqlite3", ttl_s=60, max_rows=2, clock=lambda: now[0])
    prior = Prior([{"text": "s"}], [{"role": "user", "parts": [{"text": "q"}]}])
    for k in range(3):
        now[0] += 1
        store.put({"id": f"resp_{k}", "object": "response"}, prior)
    assert store.get("resp_0") is None and len(store) == 2
    again = ResponseStore(tmp_path / "r.sqlite3", ttl_s=60, clock=lambda: now[0])
    response, conversation = again.get("resp_2")
    assert response == {"id": "resp_2", "object": "response"} and conversation == prior
    assert again.delete("resp_2") and not again.delete("resp_2")
    now[0] += 61
    assert again.get("resp_1") is None
