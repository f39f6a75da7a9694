"""A faithful simulator of Google's Gemini API, with fault injection.

It is interlock's demo upstream (answers with no account), its test upstream and its benchmark
upstream, written from the wire samples in the shared fixtures and importing nothing from the
gateway's translators, so a translator bug cannot hide behind a matching simulator bug.

    sim = Simulator()
    await sim.start(host="127.0.0.1", port=0)
    sim.url            # "http://127.0.0.1:<port>"
    sim.log            # one LogRecord per API request
    await sim.close()

Answers are deterministic and shaped by the request: thoughts when `includeThoughts`, a function
call when the prompt clearly asks for one, schema-valid JSON in JSON mode, the tool output quoted
back after a `functionResponse`, `MAX_TOKENS` when `maxOutputTokens` is small.

Two controls, both documented with examples in README.md next to this file:

* prompt directives in the last user turn, e.g. `[[sim chunks=50 interval_ms=20]]`
  (`directives.py`);
* fault keys: the API key chooses the failure, e.g. `sim-429x2-retry3s`, `sim-cut5`,
  `sim-midstream-error3`, `sim-slow-first-byte-2000ms` (`faults.py`).

`POST /__sim/reset` clears the log and the fault counters; `GET /__sim/log` returns the log.
"""

from .cli import main
from .log import LogRecord
from .server import Simulator

__all__ = ["LogRecord", "Simulator", "main"]
