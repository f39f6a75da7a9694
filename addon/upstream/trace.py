"""What one upstream attempt sent and got, kept for the monitor's attempt flows.

Secrets are masked when the trace is made (the provider names its secret headers), the raw
response bytes are teed off the httpx stream as the dispatcher reads them, capped, so a long
answer costs at most `CAP` bytes per attempt.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from addon.pool.accounts import mask
from addon.upstream.provider import UpstreamRequest

CAP = 1024 * 1024
SECRET_QUERY = ("key", "api_key", "access_token")


class AttemptTrace:
    def __init__(self, req: UpstreamRequest) -> None:
        self.started = time.time()
        self.response_at: float | None = None
        self.ended: float | None = None
        self._secrets: list[str] = []
        self.method = req.method
        self.url = self._mask_url(req.url)
        secret_names = {n.lower() for n in req.secret_headers}
        self.request_headers = [(k, self._mask(v) if k.lower() in secret_names else v) for k, v in req.headers.items()]
        self.request_body = req.body
        self.status: int | None = None
        self.response_headers: list[tuple[str, str]] = []
        self.response_body = bytearray()
        self.dropped = 0

    def _mask(self, value: str) -> str:
        scheme, sep, rest = value.partition(" ")
        if sep and rest and scheme.lower() in ("bearer", "basic"):
            self._secrets.append(rest)
            return f"{scheme} {mask(rest)}"
        self._secrets.append(value)
        return mask(value)

    def _mask_url(self, url: str) -> str:
        parts = urlsplit(url)
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        if not any(k in SECRET_QUERY for k, _ in pairs):
            return url
        masked = [(k, self._mask(v) if k in SECRET_QUERY else v) for k, v in pairs]
        return urlunsplit(parts._replace(query=urlencode(masked)))

    def scrub(self, data: bytes) -> bytes:
        """`data` with every secret this attempt used replaced by its masked form."""
        for secret in self._secrets:
            if len(secret) >= 4:
                data = data.replace(secret.encode(), mask(secret).encode())
        return data

    def response(self, resp: httpx.Response) -> None:
        """Note status and headers, and tee the body from here on."""
        self.response_at = time.time()
        self.status = resp.status_code
        self.response_headers = [(k, self.scrub(v.encode()).decode("utf-8", "replace"))
                                 for k, v in resp.headers.multi_items()]
        resp.stream = _Tee(resp.stream, self)

    def add(self, chunk: bytes) -> None:
        room = CAP - len(self.response_body)
        if room > 0:
            self.response_body += chunk[:room]
        self.dropped += max(0, len(chunk) - max(room, 0))

    def end(self) -> AttemptTrace:
        if self.ended is None:
            self.ended = time.time()
        return self


class _Tee(httpx.AsyncByteStream):
    def __init__(self, inner, trace: AttemptTrace) -> None:
        self._inner = inner
        self._trace = trace

    async def __aiter__(self):
        async for chunk in self._inner:
            self._trace.add(chunk)
            yield chunk
        self._trace.end()

    async def aclose(self) -> None:
        self._trace.end()
        await self._inner.aclose()
