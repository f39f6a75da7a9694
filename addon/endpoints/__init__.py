"""One module per family of endpoints: turn a routed client request into an `Answer`.

`ENDPOINTS` maps the handler names of `routes.py` to their functions.
"""

from addon.endpoints import gemini, local
from addon.endpoints import chat, mcp, media, responses, warmup
from addon.endpoints import messages as anthropic_messages

ENDPOINTS = {
    "health": local.health,
    "head": local.head,
    "telemetry": local.telemetry,
    "list_models": local.list_models,
    "list_models_anthropic": local.list_models_anthropic,
    "list_models_gemini": local.list_models_gemini,
    "get_model": local.get_model,
    "get_model_gemini": local.get_model_gemini,
    "detect_model": local.detect_model,
    "gemini": gemini.call,
    "chat": chat.chat,
    "completions": chat.completions,
    "responses": responses.responses,
    "response_by_id": responses.response_by_id,
    "responses_websocket": responses.websocket,
    "images": media.images,
    "audio": media.audio,
    "messages": anthropic_messages.messages,
    "count_tokens": anthropic_messages.count_tokens,
    "warmup": warmup.warmup,
    "mcp": mcp.mcp,
}
