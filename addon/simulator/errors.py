"""google.rpc.Status error bodies, shaped key for key like the captured ones.

Each builder returns `(http_status, body, extra_headers)`; bodies follow the fixtures
`error_400.json` … `error_503.json` (keys `code, message, status, details`, details typed with
`@type`). Messages are the real ones, with the model name filled in where the API names it.
"""

from __future__ import annotations

from typing import Any

Error = tuple[int, dict[str, Any], dict[str, str]]

_TYPE = "type.googleapis.com/google.rpc."
STATUS_NAMES = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED", 409: "ABORTED", 429: "RESOURCE_EXHAUSTED", 499: "CANCELLED",
    500: "INTERNAL", 501: "NOT_IMPLEMENTED", 502: "UNAVAILABLE", 503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_MESSAGES = {
    400: "Request contains an invalid argument.",
    401: "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
         "cookie or other valid authentication credential. See "
         "https://developers.google.com/identity/sign-in/web/devconsole-project.",
    403: "The caller does not have permission",
    408: "Request timed out.",
    409: "The operation was aborted.",
    499: "The operation was cancelled.",
    500: "An internal error has occurred. Please retry or report in "
         "https://developers.generativeai.google/guide/troubleshooting",
    501: "Method not implemented.",
    502: "The service is currently unavailable.",
    503: "The model is overloaded. Please try again later.",
    504: "Deadline expired before operation could complete.",
}
_INVALID_KEY = "API key not valid. Please pass a valid API key."
_UNREGISTERED = ("Method doesn't allow unregistered callers (callers without established "
                 "identity). Please use API Key or other form of API consumer identity to call "
                 "this API.")
_QUOTA_HEAD = ("You exceeded your current quota, please check your plan and billing details. For "
               "more information on this error, head to: "
               "https://ai.google.dev/gemini-api/docs/rate-limits. To monitor your current usage, "
               "head to: https://ai.dev/usage?tab=rate-limit. ")
_METRIC = "generativelanguage.googleapis.com/generate_content_free_tier_"


def status_error(code: int, message: str | None = None,
                 details: list[dict[str, Any]] | None = None) -> Error:
    error: dict[str, Any] = {
        "code": code,
        "message": message or _MESSAGES.get(code, "Request failed."),
        "status": STATUS_NAMES.get(code, "UNKNOWN"),
    }
    if details:
        error["details"] = details
    headers = {}
    if code == 401:
        headers["WWW-Authenticate"] = ('Bearer realm="https://accounts.google.com/", '
                                       'error="invalid_token"')
    return code, {"error": error}, headers


def invalid_api_key() -> Error:
    return status_error(400, _INVALID_KEY, [
        {"@type": _TYPE + "ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com",
         "metadata": {"service": "generativelanguage.googleapis.com"}},
        {"@type": _TYPE + "LocalizedMessage", "locale": "en-US", "message": _INVALID_KEY},
    ])


def missing_api_key() -> Error:
    """What generativelanguage answers when neither `x-goog-api-key` nor `?key=` is sent."""
    return status_error(403, _UNREGISTERED)


def bad_request(message: str, field: str | None = None) -> Error:
    violation = {"field": field, "description": message} if field else {"description": message}
    return status_error(400, message, [{"@type": _TYPE + "BadRequest",
                                        "fieldViolations": [violation]}])


def model_not_found(model: str, api_version: str, method: str) -> Error:
    return status_error(404, (
        f"models/{model} is not found for API version {api_version}, or is not supported for "
        f"{method}. Call ListModels to see the list of available models and their supported "
        "methods."))


def method_not_found() -> Error:
    return status_error(404, "Method not found.")


def with_retry(error: Error, delay: str | None) -> Error:
    """Adds a RetryInfo detail (proto Duration, e.g. "3s") as the last detail, like the API."""
    if delay is None:
        return error
    code, body, headers = error
    details = body["error"].setdefault("details", [])
    details.append({"@type": _TYPE + "RetryInfo", "retryDelay": delay})
    return code, body, headers


def rate_limited(model: str, delay: str | None) -> Error:
    """The free-tier per-minute 429 (retryable after the delay)."""
    violations = [("requests", "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"),
                  ("input_token_count", "GenerateContentInputTokensPerModelPerMinute-FreeTier")]
    return with_retry(_quota(model, violations, delay), delay)


def quota_exhausted(model: str, delay: str | None) -> Error:
    """The per-day 429: clients treat a PerDay quotaId as terminal for the key."""
    violations = [("requests", "GenerateRequestsPerDayPerProjectPerModel-FreeTier")]
    return with_retry(_quota(model, violations, delay), delay)


def _quota(model: str, violations: list[tuple[str, str]], delay: str | None) -> Error:
    lines = "".join(f"\n* Quota exceeded for metric: {_METRIC}{metric}, limit: 0, model: {model}"
                    for metric, _ in violations)
    retry = f"\nPlease retry in {delay}." if delay else ""
    return status_error(429, _QUOTA_HEAD + lines + retry, [
        {"@type": _TYPE + "Help", "links": [
            {"description": "Learn more about Gemini API quotas",
             "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]},
        {"@type": _TYPE + "QuotaFailure", "violations": [
            {"quotaMetric": _METRIC + metric, "quotaId": quota_id,
             "quotaDimensions": {"location": "global", "model": model}}
            for metric, quota_id in violations]},
    ])
