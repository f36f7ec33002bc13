#!/usr/bin/env bash
# Developer entry point: ./dev.sh serve [args...] | ./dev.sh test [pytest args...]
# Keeps .venv/ in step with pyproject.toml, then hands over to the real command.
set -euo pipefail

# Work from the repo root so .venv/, pyproject.toml and pytest's rootdir are always the same,
# whichever directory the script is called from.
cd "$(dirname "${BASH_SOURCE[0]}")"

VENV=.venv
# The stamp is newer than pyproject.toml exactly when the last install saw its current deps.
STAMP="$VENV/.dev-installed"

usage() {
    echo "usage: ./dev.sh serve [edge-admin serve args...] | ./dev.sh test [pytest args...]" >&2
    exit 2
}

ensure_venv() {
    if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo "dev.sh: need python3 >= 3.11 on PATH, found: $(python3 -V 2>&1 || echo none)" >&2
        exit 1
    fi
    # Check the interpreter, not the directory: a half-created .venv/ has no bin/python.
    if [[ ! -x "$VENV/bin/python" ]]; then
        echo "dev.sh: creating $VENV" >&2
        python3 -m venv "$VENV"
        rm -f "$STAMP"
    fi
    if [[ ! -f "$STAMP" || pyproject.toml -nt "$STAMP" ]]; then
        echo "dev.sh: installing the project into $VENV" >&2
        "$VENV/bin/pip" install --disable-pip-version-check -q -e ".[test]"
        touch "$STAMP"
    fi
}

[[ $# -ge 1 ]] || usage
cmd=$1
shift
case "$cmd" in
    serve) ensure_venv; exec "$VENV/bin/edge-admin" serve "$@" ;;
    test) ensure_venv; exec "$VENV/bin/python" -m pytest "$@" ;;
    *) usage ;;
esac
