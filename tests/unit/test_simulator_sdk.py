"""The official google-genai SDK (2.8.0) against the simulator, and the command line."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from google import genai
from google.genai import errors, types

from addon.simulator import Simulator

ROOT = Path(__file__).parents[2]



def sdk(sim: Simulator, version: str, key: str = "demo-key-1") -> genai.Client:
    return genai.Client(api_key=key, http_options=types.HttpOptions(
        base_url=sim.url, api_version=version))


@pytest.fixture
async def aio(sim):
    """Async SDK clients closed before the loop ends (their __del__ would need the loop)."""
    opened = []

    def make(version: str = "v1beta", key: str = "demo-key-1"):
        opened.append(sdk(sim, version, key).aio)
        return opened[-1]

    yield make
    for client in opened:
        await client.aclose()


@pytest.mark.parametrize("version", ["v1beta", "v1"])
async def test_sdk_generates_streams_and_counts(sim, aio, version):
    client = aio(version)
    reply = await client.models.generate_content(model="gemini-2.5-flash",
                                                 contents="Say hello [[sim chunks=6]]")
    assert "Say hello" in reply.text
    assert reply.candidates[0].finish_reason == types.FinishReason.STOP
    assert reply.usage_metadata.candidates_token_count > 0
    pieces = [c async for c in await client.models.generate_content_stream(
        model="gemini-2.5-flash", contents="Say hello [[sim chunks=6]]")]
    assert len(pieces) == 6 and "".join(p.text for p in pieces) == reply.text
    assert pieces[-1].candidates[0].finish_reason == types.FinishReason.STOP
    counted = await client.models.count_tokens(model="gemini-2.5-flash",
                                              contents="Say hello [[sim chunks=6]]")
    assert counted.total_tokens == reply.usage_metadata.prompt_token_count
    assert {r.path.split("/")[1] for r in sim.log} == {version}


async def test_sync_sdk_in_a_thread(sim):
    with sdk(sim, "v1beta") as client:
        reply = await asyncio.to_thread(client.models.generate_content, model="gemini-2.5-pro",
                                        contents="ping")
    assert reply.text and reply.model_version == "gemini-2.5-pro"


async def test_sdk_reads_thoughts_calls_and_json(aio):
    client = aio()
    thinking = types.GenerateContentConfig(
        thinking_config=types.ThinkingConfig(include_thoughts=True, thinking_budget=512))
    reply = await client.models.generate_content(model="gemini-2.5-flash", contents="hi",
                                                 config=thinking)
    parts = reply.candidates[0].content.parts
    assert parts[0].thought and not parts[1].thought and parts[1].thought_signature
    assert reply.usage_metadata.thoughts_token_count > 0

    def read_file(file_path: str) -> str:
        """Reads a file."""
        return ""

    tools = types.GenerateContentConfig(
        tools=[read_file],
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True))
    reply = await client.models.generate_content(
        model="gemini-2.5-flash", contents="read_file /etc/hostname please", config=tools)
    assert reply.function_calls[0].name == "read_file"
    assert reply.function_calls[0].args == {"file_path": "/etc/hostname"}

    schema = types.GenerateContentConfig(response_mime_type="application/json",
                                         response_schema={"type": "OBJECT", "properties": {
                                             "n": {"type": "INTEGER"}}, "required": ["n"]})
    reply = await client.models.generate_content(model="gemini-2.5-flash", contents="a number",
                                                 config=schema)
    assert isinstance(reply.parsed["n"], int)


async def test_sdk_raises_the_injected_errors(aio):
    client = aio(key="sim-429x1-retry2s")
    with pytest.raises(errors.ClientError) as caught:
        await client.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert caught.value.code == 429 and caught.value.status == "RESOURCE_EXHAUSTED"
    with pytest.raises(errors.ClientError) as caught:
        await aio(key="invalid-1").models.generate_content(
            model="gemini-2.5-flash", contents="hi")
    assert caught.value.code == 400
    with pytest.raises(errors.ServerError) as caught:
        stream = await aio(key="sim-midstream-error2").models.generate_content_stream(
            model="gemini-2.5-flash", contents="x [[sim chunks=5]]")
        async for _ in stream:
            pass
    assert caught.value.code == 503 and caught.value.status == "UNAVAILABLE"


async def test_command_line_serves_until_sigterm():
    proc = subprocess.Popen([sys.executable, "-m", "addon.simulator", "--port", "0"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        url = (await asyncio.to_thread(proc.stdout.readline)).strip()
        assert url.startswith("http://127.0.0.1:")
        async with httpx.AsyncClient(base_url=url) as c:
            r = await c.post("/v1beta/models/gemini-2.5-flash:generateContent",
                             params={"key": "k"},
                             json={"contents": [{"parts": [{"text": "hi"}]}]})
        assert r.status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
