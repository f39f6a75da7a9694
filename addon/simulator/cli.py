"""`python -m addon.simulator` and `interlock simulator`: serve until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from .server import Simulator

DEFAULT_PORT = 8046


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="interlock simulator",
        description="Serve a simulated Gemini API (any key works; keys starting with sim- "
                    "inject faults, see addon/simulator/README.md).")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port to bind, 0 for any free port (default {DEFAULT_PORT})")
    parser.add_argument("--interval-ms", type=float, default=20,
                        help="default pause between stream events (default 20)")
    parser.add_argument("--first-byte-ms", type=float, default=0,
                        help="default pause before each answer starts (default 0)")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(args))
    return 0


async def _run(args: argparse.Namespace) -> None:
    sim = Simulator(interval_ms=args.interval_ms, first_byte_ms=args.first_byte_ms)
    await sim.start(host=args.host, port=args.port)
    print(sim.url, flush=True)
    print("Gemini API simulator ready; Ctrl-C to stop.", file=sys.stderr, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await sim.close()
