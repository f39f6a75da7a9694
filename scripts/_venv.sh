# Sourced by scripts/run, scripts/test and scripts/bench: make .venv (Python 3.12) and keep it in
# step with pyproject.toml. Re-installs only when pyproject.toml changed since the last install.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"

find_python312() {
  local candidate
  for candidate in python3.12 "$(pyenv prefix 3.12 2>/dev/null)/bin/python3.12" /usr/bin/python3.12 /usr/local/bin/python3.12; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then
      command -v "$candidate"; return 0
    fi
  done
  echo "interlock needs Python 3.12 (mitmproxy 12 requires it); none was found on PATH or in pyenv." >&2
  return 1
}

ensure_venv() {
  local extras="$1" stamp want
  if [ ! -x "$VENV/bin/python" ]; then
    (cd "$ROOT" && "$(find_python312)" -m venv "$VENV")
  fi
  stamp="$VENV/.interlock-installed"
  local hash have
  hash="$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)"
  want="$hash-$extras"
  have="$(cat "$stamp" 2>/dev/null || true)"
  # an install with the test extras also serves `scripts/run`
  if [ "$have" != "$want" ] && ! { [ -z "$extras" ] && [ "$have" = "$hash-[test]" ]; }; then
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$ROOT$extras"
    echo "$want" > "$stamp"
  fi
}
