#!/usr/bin/env bash
# modelreg in two commands; each installs what it needs into .venv first.
#   ./run.sh                    serve: embedded MongoDB and S3 (unless configured away), then gunicorn
#   ./run.sh test [PYTEST ARGS] run the tests (default: all of tests/ on 3 xdist workers)
#   ./run.sh schema check [DIR] check a folder of schema files
#   ./run.sh bench NAME [ARGS]  run bench/NAME.py
#   ./run.sh backup DIR         back up every collection and stored object into DIR (new or empty)
#   ./run.sh restore DIR        restore a backup into an empty deployment
# PYTHON names the interpreter that creates .venv (default python3, 3.10 or newer).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

VENV=.venv
PY="$VENV/bin/python"
STAMP="$VENV/.setup.cfg.sha"

# Installs the package (editable) when setup.cfg changed since the last install, or when the test
# extras are needed and missing. The stamp holds the sha256 of setup.cfg and the extras installed.
ensure_venv() {
    local extras="$1" sha stamp
    if [ ! -x "$PY" ]; then
        echo "run.sh: creating $VENV" >&2
        "${PYTHON:-python3}" -m venv "$VENV"
        "$PY" -m pip install --quiet --upgrade pip
    fi
    sha="$( (sha256sum setup.cfg 2>/dev/null || shasum -a 256 setup.cfg) | cut -d' ' -f1)"
    stamp="$(cat "$STAMP" 2>/dev/null || true)"
    if [ "$stamp" = "$sha test" ] || [ "$stamp" = "$sha $extras" ]; then
        return
    fi
    echo "run.sh: installing modelreg${extras:+ with [$extras] extras} into $VENV" >&2
    rm -f "$STAMP"
    "$PY" -m pip install --quiet -e ".${extras:+[$extras]}"
    echo "$sha $extras" > "$STAMP"
}

# Tests drive Debian's packages: Chromium and its driver (the docs and registry pages) and nginx (the sample proxy configuration).
# $1: a command, $2: the package that brings it, $3: what it is for.
ensure_debian_tool() {
    if command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; then
        return
    fi
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "run.sh: installing $2 (Debian package) for $3" >&2
        apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
    else
        echo "run.sh: $1 is missing and cannot be installed here; $3 will fail" >&2
    fi
}

usage() {  # $1: exit code
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit "$1"
}

command="${1:-serve}"
[ $# -gt 0 ] && shift
case "$command" in
    serve)
        ensure_venv ""
        exec "$PY" -m server serve "$@"
        ;;
    test)
        ensure_venv test
        ensure_debian_tool chromium chromium "the docs-page and registry-page tests"
        ensure_debian_tool chromedriver chromium-driver "the registry-page tests"
        ensure_debian_tool nginx nginx-light "the proxy sample test"
        if [ $# -eq 0 ]; then
            set -- tests
        fi
        # every process the suite starts (workers, gunicorn, launchers, the command line) imports our
        # modules: compiled once into __pycache__ (ignored by git) instead of once per process
        unset PYTHONDONTWRITEBYTECODE
        # three workers on two cores: about a third of the suite waits on processes it started (servers,
        # launchers, the SDK), which a third worker fills (a run took ~6:20 against ~7:15 with two); a
        # module marked with one xdist_group (the registry pages: one browser and server) stays on one worker
        exec "$PY" -m pytest -n 3 --dist loadgroup "$@"
        ;;
    backup | restore)
        [ $# -eq 1 ] || usage 2
        ensure_venv ""
        exec "$PY" -m server "$command" "$@"
        ;;
    schema)
        ensure_venv ""
        exec "$PY" -m server schema "$@"
        ;;
    bench)
        [ $# -gt 0 ] || usage 2
        ensure_venv test
        name="$1"
        shift
        exec "$PY" "bench/$name.py" "$@"
        ;;
    -h | --help | help)
        usage 0
        ;;
    *)
        usage 2
        ;;
esac
