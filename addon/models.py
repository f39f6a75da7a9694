"""Model catalog and mapping: which models we list, and which upstream model a client name means.

Pure data and functions, no I/O. Clients ask for names of their own world (`claude-opus-4-5`,
`gpt-4o`, `models/gemini-2.5-flash`); `ModelMap.resolve` turns one into the upstream model id in
this order: exact custom entry, most specific custom wildcard, built-in alias, pass-through.
The list endpoints of the three protocols are rendered from one catalog of `ModelInfo` rows.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

AGENT = "agent"
IMAGE_GEN = "image_gen"
WEB_SEARCH = "web_search"

MODELS_PREFIX = "models/"
ONLINE_SUFFIX = "-online"

LIST_CREATED = 1706745600
"""Every listed model claims this creation time (2024-02-01): clients only need a stable number."""
LIST_CREATED_AT = "2024-02-01T00:00:00Z"
OWNED_BY = "interlock"

GEMINI_PAGE_SIZE = 50
GEMINI_MAX_PAGE_SIZE = 1000

_1M = 1_048_576


@dataclass(frozen=True)
class ModelInfo:
    """One model as we list it.

    `family` groups models whose thought signatures and quotas are shared; `kind` is the request
    type the model implies (`agent`, `image_gen` or `web_search`).
    """

    id: str
    display_name: str
    family: str
    input_token_limit: int
    output_token_limit: int
    thinking: bool
    kind: str = AGENT


BUILTIN_ALIASES: tuple[tuple[str, str], ...] = (
    ("claude-*opus*", "claude-opus-4-6-thinking"),
    ("claude-*sonnet*", "claude-sonnet-4-6"),
    ("claude-*haiku*", "claude-sonnet-4-6"),
    ("gpt-3.5*", "gemini-2.5-flash"),
    ("gpt-4*", "gemini-2.5-flash"),
    ("gemini-3-pro", "gemini-3-pro-preview"),
    ("gemini-3-pro-high", "gemini-pro-agent"),
    ("gemini-3.1-pro-high", "gemini-pro-agent"),
    ("internal-background-task", "gemini-2.5-flash"),
)
"""Client names that no upstream knows, and what we send instead (`*` = any substring)."""

FAMILY_DEFAULTS: dict[str, tuple[int, int, bool]] = {
    "claude": (200_000, 64_000, True),
    "gemini-flash": (_1M, 65_536, True),
    "gemini-flash-lite": (_1M, 65_536, True),
    "gemini-image": (65_536, 32_768, False),
    "gemini-pro": (_1M, 65_536, True),
    "gpt-oss": (131_072, 32_768, True),
}
"""(input limit, output limit, thinking) for models we know only by name."""
UNKNOWN_DEFAULTS = (128_000, 8_192, False)


def family_of(model_id: str) -> str:
    """The family of an upstream model id; an unknown model is a family of its own.

    Keeping unknown ids apart means a guess can never leak one model's thought signatures or
    quota state into another's.
    """
    name = strip_prefix(model_id).lower()
    words = set(re.split(r"[-_.]", name))
    if name.startswith("claude"):
        return "claude"
    if name.startswith("gpt-oss"):
        return "gpt-oss"
    if name.startswith("gemini"):
        if "image" in words:
            return "gemini-image"
        if "flash" in words:
            return "gemini-flash-lite" if "lite" in words else "gemini-flash"
        if "pro" in words:
            return "gemini-pro"
    return name


def kind_of(model_id: str) -> str:
    """The request type a model name implies: image models generate images, `-online` searches."""
    if "-image" in model_id:
        return IMAGE_GEN
    if model_id.endswith(ONLINE_SUFFIX):
        return WEB_SEARCH
    return AGENT


def strip_prefix(model: str) -> str:
    """Gemini SDKs may send `models/<id>`; everything else in the gateway uses the bare id."""
    return model.removeprefix(MODELS_PREFIX)


def _row(model_id: str, display_name: str, input_limit: int, output_limit: int,
         thinking: bool) -> ModelInfo:
    return ModelInfo(model_id, display_name, family_of(model_id), input_limit, output_limit,
                     thinking, kind_of(model_id))


BUILTIN_MODELS: tuple[ModelInfo, ...] = (
    # Public Gemini API.
    _row("gemini-2.0-flash",           "Gemini 2.0 Flash",             _1M,     8_192,  False),
    _row("gemini-2.5-flash",           "Gemini 2.5 Flash",             _1M,     65_536, True),
    _row("gemini-2.5-flash-image",     "Gemini 2.5 Flash Image",       32_768,  32_768, False),
    _row("gemini-2.5-flash-lite",      "Gemini 2.5 Flash-Lite",        _1M,     65_536, True),
    _row("gemini-2.5-pro",             "Gemini 2.5 Pro",               _1M,     65_536, True),
    _row("gemini-3-flash-preview",     "Gemini 3 Flash Preview",       _1M,     65_536, True),
    _row("gemini-3-pro-preview",       "Gemini 3 Pro Preview",         _1M,     65_536, True),
    # Antigravity (Cloud Code v1internal).
    _row("claude-opus-4-6-thinking",   "Claude Opus 4.6 (Thinking)",   250_000, 64_000, True),
    _row("claude-sonnet-4-6",          "Claude Sonnet 4.6",            250_000, 64_000, True),
    _row("gemini-3-flash",             "Gemini 3 Flash",               _1M,     65_536, True),
    _row("gemini-3-flash-agent",       "Gemini 3 Flash (Agent)",       _1M,     65_536, True),
    _row("gemini-3-pro-image",         "Gemini 3 Pro Image",           65_536,  32_768, True),
    _row("gemini-3.1-flash-image",     "Gemini 3.1 Flash Image",       65_536,  32_768, False),
    _row("gemini-3.1-flash-lite",      "Gemini 3.1 Flash-Lite",        _1M,     16_384, False),
    _row("gemini-3.1-pro-high",        "Gemini 3.1 Pro (High)",        _1M,     65_535, True),
    _row("gemini-3.1-pro-low",         "Gemini 3.1 Pro (Low)",         _1M,     65_535, True),
    _row("gemini-3.5-flash-extra-low", "Gemini 3.5 Flash (Extra Low)", _1M,     65_536, True),
    _row("gemini-3.5-flash-low",       "Gemini 3.5 Flash (Low)",       _1M,     65_536, True),
    _row("gemini-pro-agent",           "Gemini Pro (Agent)",           _1M,     65_535, True),
    _row("gpt-oss-120b-medium",        "GPT-OSS 120B (Medium)",        131_072, 32_768, True),
)
_BUILTIN_BY_ID = {m.id: m for m in BUILTIN_MODELS}


def describe_upstream(model_id: str) -> ModelInfo:
    """The catalog row for an upstream id, built from its family when it is not in our table."""
    model_id = strip_prefix(model_id)
    if known := _BUILTIN_BY_ID.get(model_id):
        return known
    family = family_of(model_id)
    input_limit, output_limit, thinking = FAMILY_DEFAULTS.get(family, UNKNOWN_DEFAULTS)
    return ModelInfo(model_id, model_id, family, input_limit, output_limit, thinking,
                     kind_of(model_id))


class _Patterns:
    """Exact names and `*` wildcards; a name matches the most specific pattern.

    Most specific = most literal (non-`*`) characters, then the longer pattern, then the
    alphabetically first, so the answer never depends on dict order.
    """

    def __init__(self, entries: Iterable[tuple[str, str]]) -> None:
        self.exact: dict[str, str] = {}
        wildcards: list[tuple[str, re.Pattern[str], str]] = []
        for key, target in entries:
            if "*" in key:
                regex = re.compile(".*".join(re.escape(part) for part in key.split("*")), re.DOTALL)
                wildcards.append((key, regex, target))
            else:
                self.exact[key] = target
        wildcards.sort(key=lambda w: (-len(w[0].replace("*", "")), -len(w[0]), w[0]))
        self.wildcards = tuple(wildcards)

    def match(self, name: str) -> str | None:
        if name in self.exact:
            return self.exact[name]
        for _key, regex, target in self.wildcards:
            if regex.fullmatch(name):
                return target
        return None


_BUILTIN_PATTERNS = _Patterns(BUILTIN_ALIASES)


class ModelMap:
    """Client model name → upstream model id, plus the catalog we advertise.

    `custom` comes from the settings; its keys may contain `*` wildcards (any substring, several
    allowed, case-sensitive). Precedence: exact custom key > most specific custom wildcard >
    built-in alias > the name unchanged.
    """

    def __init__(self, custom: Mapping[str, str] | None = None) -> None:
        custom = dict(custom or {})
        for key, target in custom.items():
            if not isinstance(key, str) or not key.strip():
                raise ValueError(
                    f"model mapping entry {key!r} -> {target!r}: the client model is empty")
            if not isinstance(target, str) or not target.strip():
                raise ValueError(
                    f"model mapping entry {key!r} -> {target!r}: the target model is empty")
        self.custom = custom
        self._custom = _Patterns(custom.items())

    def resolve(self, client_model: str) -> str:
        name = strip_prefix(client_model)
        mapped = self._custom.match(name)
        if mapped is None:
            mapped = _BUILTIN_PATTERNS.match(name)
        return name if mapped is None else mapped

    def describe(self, client_model: str) -> ModelInfo:
        """The row a client name is listed under: its own id, the mapped model's capabilities."""
        name = strip_prefix(client_model)
        mapped = self.resolve(name)
        if name == mapped:
            return describe_upstream(name)
        target = describe_upstream(mapped)
        kind = target.kind if target.kind != AGENT else kind_of(name)
        return replace(target, id=name, display_name=name, kind=kind)

    def catalog(self, served: Iterable[str] | None = None) -> list[ModelInfo]:
        """Built-in models, custom names and the ids accounts report, one row each, sorted by id.

        Wildcard keys are patterns, not models, so they are not listed. A custom key shadows a
        model of the same id because requests for that id follow the custom entry.
        """
        rows: dict[str, ModelInfo] = {strip_prefix(m): describe_upstream(m) for m in served or ()}
        rows.update((m.id, m) for m in BUILTIN_MODELS)
        rows.update((key, self.describe(key)) for key in self.custom if "*" not in key)
        return [rows[key] for key in sorted(rows)]

    def detect(self, client_model: str) -> dict:
        """What the gateway would do with a model name, for `POST /v1/models/detect`.

        `-online` asks for web search with the model named without it; that base name is mapped
        unless a mapping entry matches the full name.
        """
        name = strip_prefix(client_model)
        online = name.endswith(ONLINE_SUFFIX)
        mapped = self.resolve(name)
        if online and mapped == name:
            mapped = self.resolve(name.removesuffix(ONLINE_SUFFIX))
        image = IMAGE_GEN in (kind_of(name), kind_of(mapped))
        kind = IMAGE_GEN if image else WEB_SEARCH if online else AGENT
        return {
            "model": client_model,
            "mapped_model": mapped,
            "type": kind,
            "features": {
                "has_web_search": kind == WEB_SEARCH,
                "is_image_gen": image,
                "thinking": describe_upstream(mapped).thinking,
            },
        }


def openai_list(models: list[ModelInfo]) -> dict:
    return {
        "object": "list",
        "data": [{"id": m.id, "object": "model", "created": LIST_CREATED, "owned_by": OWNED_BY}
                 for m in models],
    }


def anthropic_list(models: list[ModelInfo]) -> dict:
    return {
        "data": [{"type": "model", "id": m.id, "display_name": m.display_name,
                  "created_at": LIST_CREATED_AT} for m in models],
        "has_more": False,
        "first_id": models[0].id if models else None,
        "last_id": models[-1].id if models else None,
    }


def gemini_model(m: ModelInfo) -> dict:
    """A Gemini API `Model` object, field for field like the real `models.list` entries."""
    return {
        "name": MODELS_PREFIX + m.id,
        "version": "001",
        "displayName": m.display_name,
        "description": f"{m.display_name}, served by interlock.",
        "inputTokenLimit": m.input_token_limit,
        "outputTokenLimit": m.output_token_limit,
        "supportedGenerationMethods": ["generateContent", "countTokens", "streamGenerateContent"],
        "temperature": 1,
        "topP": 0.95,
        "topK": 64,
        "maxTemperature": 2,
        "thinking": m.thinking,
    }


def gemini_list(models: list[ModelInfo], page_size: int | None = None,
                page_token: str | None = None) -> dict:
    """One page of `models.list`; `nextPageToken` appears only when more models follow.

    Raises ValueError for a negative page size or a token we did not issue. Page size 0 or None
    means the API default (50); sizes above 1000 are capped, as the Gemini API does.
    """
    if page_size is not None and page_size < 0:
        raise ValueError(f"pageSize must not be negative, got {page_size}")
    size = min(page_size or GEMINI_PAGE_SIZE, GEMINI_MAX_PAGE_SIZE)
    start = _decode_page_token(page_token) if page_token else 0
    end = start + size
    body: dict = {"models": [gemini_model(m) for m in models[start:end]]}
    if end < len(models):
        body["nextPageToken"] = _encode_page_token(end)
    return body


_TOKEN_PREFIX = "interlock-models:"


def _encode_page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"{_TOKEN_PREFIX}{offset}".encode()).decode().rstrip("=")


def _decode_page_token(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    offset = text.removeprefix(_TOKEN_PREFIX)
    if not text.startswith(_TOKEN_PREFIX) or not offset.isdigit():
        raise ValueError(f"invalid pageToken {token!r}")
    return int(offset)
