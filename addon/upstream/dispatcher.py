"""All upstream I/O: the attempt loop over the pool, with cooldowns from the upstream's hints.

An attempt fails over to another account on 401/403/408/429/5xx/529, on transport errors, and
on a stream that errors or ends before its first event. A hint of at most two seconds retries
the same account after the wait. Once an attempt has produced its first event it is handed to
the caller, and no retry happens after that.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import httpx

from addon import record
from addon.errors import AttemptRecord, PoolExhausted, UpstreamError
from addon.pool import why
from addon.pool.accounts import Account
from addon.pool.scheduler import Pool
from addon.pool.tokens import TokenError, TokenManager
from addon.upstream.cooldown import UpstreamFault
from addon.upstream.provider import PrepareError, Provider, UpstreamCall, UpstreamEvents, send_with_fallback
from addon.upstream.trace import AttemptTrace

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({401, 403, 408, 429, 500, 502, 503, 504, 529})
SAME_ACCOUNT_WAIT_S = 2.0


class _AttemptFailed(Exception):
    def __init__(self, status: int | None, reason: str, fault: UpstreamFault | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.fault = fault


@dataclass
class UpstreamStream:
    """An upstream stream that has produced its first event; iterate `events()` once."""

    account: Account
    url: str
    attempts: list[AttemptRecord]
    _first: list[dict]
    _chunks: AsyncIterator[bytes]
    _decoder: UpstreamEvents
    _response: httpx.Response
    deadline: float = float("inf")
    _release: Callable[[], None] | None = None
    usage: dict | None = None  # the latest usageMetadata seen (Gemini repeats running totals)
    error: Exception | None = None  # how the stream failed after its first event, if it did

    @property
    def headers(self) -> httpx.Headers:
        """The upstream's response headers (a pass-through relays some of them)."""
        return self._response.headers

    def _saw(self, event: dict) -> None:
        if isinstance(meta := event.get("usageMetadata"), dict):
            self.usage = meta

    async def events(self) -> AsyncIterator[dict]:
        try:
            for event in self._first:
                _raise_if_error(event)
                self._saw(event)
                yield event
            try:
                async for chunk in self._chunks:
                    if time.monotonic() > self.deadline:
                        raise UpstreamError("the upstream exceeded upstream_timeout_s", status=504)
                    for event in self._decoder.feed(chunk):
                        _raise_if_error(event)
                        self._saw(event)
                        yield event
            except httpx.HTTPError as e:
                raise UpstreamError(f"upstream stream broke: {type(e).__name__}", status=502) from None
            for event in self._decoder.close():
                _raise_if_error(event)
                self._saw(event)
                yield event
        except Exception as e:
            self.error = e
            raise
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        """Closes the upstream and gives the account's concurrency slot back (once)."""
        release, self._release = self._release, None
        if release is not None:
            release()
        await self._response.aclose()


def _raise_if_error(event: dict) -> None:
    err = event.get("error")
    if isinstance(err, dict):
        status = err.get("code") if isinstance(err.get("code"), int) else 502
        raise UpstreamError(str(err.get("message") or "upstream error"), status=status)


class _Slot:
    """One held concurrency slot of an account, given back exactly once."""

    def __init__(self, pool: Pool, account: Account) -> None:
        self.pool, self.account, self.held = pool, account, True

    def release(self) -> None:
        if self.held:
            self.held = False
            self.pool.release(self.account)


Scope = Callable[[Account], bool]
"""Which accounts an attempt loop may use (e.g. only `anthropic_key` ones)."""


def everyone(call: UpstreamCall) -> list[Scope | None]:
    return [None]


class Dispatcher:
    def __init__(self, pool: Pool, provider_for: Callable[[Account], Provider], *, max_attempts: int = 3,
                 first_byte_timeout_s: float = 300.0, upstream_timeout_s: float = 600.0,
                 connect_timeout_s: float = 15.0, verify_tls: bool = True, tokens: TokenManager | None = None) -> None:
        self.pool = pool
        self.tokens = tokens
        self.provider_for = provider_for
        self.scopes_for: Callable[[UpstreamCall], list[Scope | None]] = everyone  # dispatch modes set it
        self.on_fault: Callable[[Account, str, UpstreamFault], None] | None = None  # e.g. refresh quotas after a 429
        self.max_attempts = max_attempts
        self.first_byte_timeout_s = first_byte_timeout_s
        self.upstream_timeout_s = upstream_timeout_s
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(connect=connect_timeout_s, read=first_byte_timeout_s, write=60.0, pool=None),
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=32, keepalive_expiry=30.0),
            verify=verify_tls, trust_env=False, follow_redirects=False)

    async def aclose(self) -> None:
        await self.client.aclose()
        if self.tokens is not None:
            await self.tokens.aclose()

    async def open_stream(self, call: UpstreamCall, *, gone: Callable[[], bool] = lambda: False,
                          scope: Scope | None = None) -> UpstreamStream:
        async def first_event(account: Account, provider: Provider, url: str, resp: httpx.Response,
                              attempts: list[AttemptRecord]) -> UpstreamStream:
            events_for = getattr(provider, "events_for", None)  # a decoder that depends on the call
            decoder = events_for(call) if events_for else provider.events()
            chunks = resp.aiter_bytes()
            first: list[dict] = []
            async for chunk in chunks:
                if first := decoder.feed(chunk):
                    break
            else:
                first = decoder.close()
            if not first:
                raise _AttemptFailed(502, "stream ended before its first event")
            err = first[0].get("error")
            if isinstance(err, dict):
                fault = provider.read_fault(int(err.get("code") or 502), {}, json.dumps(first[0]).encode())
                raise _AttemptFailed(fault.status, fault.message, fault)
            return UpstreamStream(account, url, attempts, first, chunks, decoder, resp,
                                  deadline=time.monotonic() + self.upstream_timeout_s)

        stream = await self._scoped(call, first_event, stream=True, gone=gone, scope=scope)
        record.note_stream(stream)
        return stream

    async def unary(self, call: UpstreamCall, *, gone: Callable[[], bool] = lambda: False,
                    scope: Scope | None = None) -> tuple[dict, Account, list[AttemptRecord]]:
        async def body(account: Account, provider: Provider, url: str, resp: httpx.Response,
                       attempts: list[AttemptRecord]) -> tuple[dict, Account, list[AttemptRecord]]:
            data = await resp.aread()
            try:
                doc = json.loads(data)
            except ValueError:
                raise _AttemptFailed(502, "upstream answered with invalid JSON") from None
            unwrap = getattr(provider, "unwrap", None)  # Cloud Code wraps answers in an envelope
            return (unwrap(doc) if unwrap else doc), account, attempts

        return await self._scoped(call, body, stream=False, gone=gone, scope=scope)

    async def _scoped[T](self, call: UpstreamCall, on_ok: Callable[..., Awaitable[T]], *, stream: bool,
                         gone: Callable[[], bool], scope: Scope | None) -> T:
        """One attempt loop per scope in turn (`scopes_for` decides them, unless the caller did): the
        next is tried only when the previous could not serve at all."""
        scopes = [scope] if scope is not None else self.scopes_for(call)
        attempts: list[AttemptRecord] = []  # shared: the monitor shows the failed scope's attempts too
        for i, only in enumerate(scopes):
            try:
                return await self._attempt_loop(call, on_ok, stream=stream, gone=gone, only=only, attempts=attempts)
            except PoolExhausted:
                if i == len(scopes) - 1 or gone():
                    raise
                why.note(f"{call.model}: no account in scope {i + 1} could serve; trying the next")
        raise AssertionError("unreachable: at least one scope")

    async def _attempt_loop[T](self, call: UpstreamCall, on_ok: Callable[..., Awaitable[T]], *,
                               stream: bool, gone: Callable[[], bool], only: Scope | None = None,
                               attempts: list[AttemptRecord] | None = None) -> T:
        attempts = [] if attempts is None else attempts
        record.note_attempts(call.model, attempts)
        tried: list[str] = []
        retry_same: Account | None = None
        token_refreshed: set[str] = set()
        for _ in range(self.max_attempts):
            if gone():
                break
            if retry_same is not None:
                account = retry_same
                self.pool.hold(account)
                why.note(f"attempt {len(attempts) + 1} for {call.model}: {account.label} again (short hint or new token)")
            else:
                if why.wanted():
                    verdicts = self.pool.explain(call.model, call.session, tried)
                    why.note(f"attempt {len(attempts) + 1} for {call.model}: "
                             + "; ".join(v.describe() for v in verdicts))
                outside = [a.id for a in self.pool.accounts if only is not None and not only(a)]
                if outside and not any(only(a) for a in self.pool.usable()):  # the next scope, without waiting
                    wanted = getattr(only, "describes", "an account for this request")
                    raise PoolExhausted(f"{call.model} needs {wanted}; none is configured and enabled",
                                        attempts=attempts, rate_limited=False)
                account = await self.pool.acquire(call.model, exclude=tried + outside, session=call.session,
                                                  wait_s=self.first_byte_timeout_s)
            retry_same = None
            if account is None:
                break
            release = _Slot(self.pool, account).release
            provider = self.provider_for(account)
            try:
                if (prepare := getattr(provider, "prepare", None)) is not None:
                    account = await prepare(account)  # e.g. Cloud Code: find or onboard the project
                if self.tokens is not None and self.tokens.needs_token(account):
                    account = await self.tokens.fresh(account)  # after prepare: its refresh counts
                req = provider.request(account, call)
            except TokenError as e:
                release()
                attempts.append(AttemptRecord(account.label, None, _short(str(e))))
                tried.append(account.id)
                continue
            except PrepareError as e:
                release()
                waited = self.pool.cool_down(account, None, None, str(e), kind="token")
                attempts.append(AttemptRecord(account.label, e.status, _short(str(e)), waited))
                tried.append(account.id)
                continue
            trace = AttemptTrace(req)
            resp: httpx.Response | None = None
            try:
                async with asyncio.timeout(self.first_byte_timeout_s):
                    resp = await send_with_fallback(self.client, req)
                    trace.response(resp)
                    if resp.status_code != 200:
                        body = await resp.aread()
                        fault = provider.read_fault(resp.status_code, resp.headers, body)
                        raise _AttemptFailed(resp.status_code, fault.message, fault)
                    result = await on_ok(account, provider, str(resp.request.url), resp, attempts)
            except _AttemptFailed as failure:
                release()
                if resp is not None:
                    await resp.aclose()
                fault = failure.fault
                if fault is not None and self.on_fault is not None:
                    self.on_fault(account, call.model, fault)
                if (failure.status == 401 and self.tokens is not None and self.tokens.needs_token(account)
                        and account.id not in token_refreshed):
                    token_refreshed.add(account.id)  # a refused token: refresh it once, same account
                    self.tokens.invalidate(account)
                    attempts.append(AttemptRecord(account.label, 401, "token refused; refreshing it", trace=trace.end()))
                    retry_same = account
                    continue
                if failure.status is not None and failure.status not in RETRYABLE_STATUS:
                    attempts.append(AttemptRecord(account.label, failure.status, failure.reason, trace=trace.end()))
                    raise UpstreamError(failure.reason, status=failure.status,
                                        headers=_attempt_header(attempts)) from None
                hint = fault.retry_after_s if fault else None
                model_scope = call.model if fault is not None and fault.per_model else None
                waited = self.pool.cool_down(account, model_scope, hint, failure.reason,
                                             rate_limited=failure.status == 429,
                                             kind=fault.kind if fault else None)
                attempts.append(AttemptRecord(account.label, failure.status, _short(failure.reason), waited,
                                              trace=trace.end()))
                tried.append(account.id)
                if hint is not None and hint <= SAME_ACCOUNT_WAIT_S:
                    await asyncio.sleep(hint)
                    retry_same = account
                continue
            except (httpx.HTTPError, TimeoutError) as e:
                release()
                if resp is not None:
                    await resp.aclose()
                reason = "no first byte in time" if isinstance(e, TimeoutError) else type(e).__name__
                waited = self.pool.cool_down(account, None, None, reason)
                attempts.append(AttemptRecord(account.label, None, reason, waited, trace=trace.end()))
                tried.append(account.id)
                continue
            except BaseException:
                release()
                if resp is not None:
                    await resp.aclose()
                raise
            if isinstance(result, UpstreamStream):
                result._release = release  # the slot is held until the stream ends
            else:
                release()
            self.pool.succeeded(account)
            attempts.append(AttemptRecord(account.label, 200, "", trace=trace))
            return result
        raise self._exhausted(call.model, attempts)

    def _exhausted(self, model: str, attempts: list[AttemptRecord]) -> PoolExhausted:
        """429 when the accounts are rate limited (with the wait), 503 when the upstream failed."""
        if not self.pool.usable():
            if not self.pool.accounts:
                return PoolExhausted("no enabled upstream account is configured", attempts=attempts)
            reasons = "; ".join(v.describe() for v in self.pool.explain(model))
            return PoolExhausted(f"no account can serve {model} ({reasons})", attempts=attempts)
        wait = self.pool.soonest_ready(model)
        limited = any(a.status == 429 for a in attempts) or (not attempts and self.pool.rate_limited(model))
        if limited:
            message = f"every account is rate limited for {model}"
        else:
            message = f"the upstream failed {len(attempts)} attempt(s)"
        if not attempts:  # nothing was sent: say why each account was passed over
            message += " (" + "; ".join(v.describe() for v in self.pool.explain(model)) + ")"
        err = PoolExhausted(message, retry_after_s=max(wait, 1.0) if wait is not None else None,
                            attempts=attempts, rate_limited=limited)
        err.headers.update(_attempt_header(attempts))
        return err


def _short(reason: str) -> str:
    first = reason.strip().splitlines()[0] if reason.strip() else ""
    return first[:160]


def _attempt_header(attempts: list[AttemptRecord]) -> dict[str, str]:
    return {"x-interlock-attempts": ",".join(str(a.status or "transport") for a in attempts)}
