"""Method + path → what the gateway does with it, and in which client protocol it answers.

Routing ignores the query string. A path that no route owns gets a 404 in the envelope the
caller most likely speaks, with a hint when the path shows a base-URL mistake.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from addon.errors import ClientError, NotFound, Protocol

GEMINI_METHODS = ("generateContent", "streamGenerateContent", "countTokens")


@dataclass(frozen=True)
class Route:
    """A matched request: the handler's name, the protocol it answers in, path parameters.

    `capability` is set for routes whose capability a later release delivers; they answer 501.
    """

    handler: str
    protocol: Protocol
    params: dict[str, str] = field(default_factory=dict)
    capability: str | None = None


class MethodNotAllowed(ClientError):
    status = 405


O, A, G = Protocol.OPENAI, Protocol.ANTHROPIC, Protocol.GEMINI

# (methods, path regex, handler, protocol, capability not yet delivered)
_TABLE: list[tuple[frozenset[str], re.Pattern[str], str, Protocol, str | None]] = []


def _add(methods: str, pattern: str, handler: str, protocol: Protocol, capability: str | None = None) -> None:
    _TABLE.append((frozenset(methods.split()), re.compile(f"^{pattern}$"), handler, protocol, capability))


_add("GET", r"/(healthz|health)", "health", O)
_add("HEAD", r"/(v1)?", "head", O)
_add("GET", r"(/v1)?/models", "list_models", O)
_add("GET", r"/v1/models/claude", "list_models_anthropic", A)
_add("POST", r"/v1/models/detect", "detect_model", O)
_add("GET", r"/v1/models/(?P<model>[^/:]+)", "get_model", O)
_add("POST", r"/v1/api/event_logging(/batch)?", "telemetry", A)
_add("GET", r"/v1beta/models", "list_models_gemini", G)
_add("GET", r"/v1beta/models/(?P<model>[^/:]+)", "get_model_gemini", G)
_add("POST", r"/(?P<version>v1beta|v1)/models/(?P<model>[^/:]+)(:(?P<method>[^/]*))?", "gemini", G)
_add("POST", r"/(?P<version>v1beta|v1)/models/(?P<model>[^/:]+)/countTokens", "gemini", G)
_add("POST", r"(/v1)?/chat/completions", "chat", O)
_add("POST", r"(/v1)?/completions", "completions", O)
_add("POST", r"(/v1)?/responses/compact", "responses_compact", O, "Responses compaction")
_add("POST", r"(/v1)?/responses", "responses", O)
_add("GET DELETE", r"(/v1)?/responses/(?P<id>[^/]+)", "response_by_id", O)
_add("GET", r"(/v1)?/responses", "responses_websocket", O)
_add("POST", r"/v1/images/(generations|edits)", "images", O)
_add("POST", r"/v1/audio/transcriptions", "audio", O)
_add("POST", r"/v1/messages", "messages", A)
_add("POST", r"/v1/messages/count_tokens", "count_tokens", A)
_add("GET POST DELETE", r"/mcp/(?P<server>[^/]+)/mcp", "mcp", O)
_add("POST", r"/internal/warmup", "warmup", O)

_MISTAKES = [
    (re.compile(r"^/v1/v1/"), "the path has '/v1' twice: this client adds '/v1' itself, so drop "
     "'/v1' from its base URL (Claude Code, the anthropic SDK: http://127.0.0.1:8045)"),
    (re.compile(r"^/v1beta/v1(beta)?/"), "the path has the API version twice: drop '/v1beta' from the "
     "base URL (Gemini CLI, google-genai: http://127.0.0.1:8045)"),
    (re.compile(r"/(chat/)?completions/(responses|chat/completions)$"), "the base URL already ends in "
     "an endpoint path: set it to http://127.0.0.1:8045/v1 (Codex CLI, the openai SDK)"),
    (re.compile(r"/v1/v1beta/"), "the base URL ends in '/v1' but this is a Gemini client: set it to "
     "http://127.0.0.1:8045"),
]


def guess_protocol(path: str, headers: Mapping[str, str]) -> Protocol:
    """The protocol of a caller we could not route: used only to pick its error envelope."""
    if "anthropic-version" in headers or "/messages" in path:
        return A
    if "x-goog-api-key" in headers or "v1beta" in path or ":generateContent" in path or ":stream" in path:
        return G
    return O


def hint_for(path: str) -> str | None:
    for pattern, hint in _MISTAKES:
        if pattern.search(path):
            return hint
    return None


def match(method: str, path: str, headers: Mapping[str, str]) -> Route:
    """The route for this request; raises 404 (with a hint) or 405 to answer instead.

    The caller answers those in `guess_protocol`'s envelope."""
    path = path.split("?", 1)[0]
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    allowed: set[str] = set()
    for methods, pattern, handler, protocol, capability in _TABLE:
        m = pattern.match(path)
        if not m:
            continue
        if method not in methods:
            allowed |= methods
            continue
        params = {k: v for k, v in m.groupdict().items() if v is not None}
        return Route(handler, protocol, params, capability)
    if allowed:
        raise MethodNotAllowed(f"{method} is not allowed on {path}; use " + " or ".join(sorted(allowed)),
                               headers={"allow": ", ".join(sorted(allowed))})
    hint = hint_for(path)
    text = f"no route for {method} {path}"
    raise NotFound(f"{text}: {hint}" if hint else text)
