#!/usr/bin/env bash
# The lock: requirements/*.txt, compiled by uv from pyproject.toml with every distribution's hash.
#   requirements/lock.sh write   (make lock)        recompile, keeping every pin that still fits
#   requirements/lock.sh check   (make lock-check)  fail if pyproject.toml asks for other pins
#
# build.txt   pip and setuptools (the build backend `make` and the Dockerfile install first)
# dev.txt     pyproject's dependencies and its `dev` extra: what `make test` installs
# runtime.txt pyproject's dependencies alone, at dev.txt's versions: `make run` and the image
# One universal resolution (every OS, Python 3.11 and later), so one lock serves a laptop, CI
# and the image. Both modes ask PyPI; the existing pins are the preferred versions, so a release
# upstream changes nothing until `uv pip compile --upgrade` is asked for.
set -euo pipefail
cd "$(dirname "$0")/.."
UV=${UV:-.venv/bin/uv}

compile() {
  local out=$1
  shift
  local common=(pip compile --quiet --universal --python-version 3.11
    --custom-compile-command "make lock" "$@")
  "$UV" "${common[@]}" requirements/build.in -o "$out/build.txt"
  "$UV" "${common[@]}" --extra dev pyproject.toml -o "$out/dev.txt"
  "$UV" "${common[@]}" -c "$out/dev.txt" pyproject.toml -o "$out/runtime.txt"
}

# The pins of a lock file: `name==version ; marker`, one a line, sorted.
pins() {
  grep -E '^[A-Za-z0-9]' "$1" | sed -E 's/[[:space:]]*\\$//' | sort
}

case "${1:-write}" in
  write)
    compile requirements --generate-hashes
    ;;
  check)
    scratch=$(mktemp -d)
    trap 'rm -rf "$scratch"' EXIT
    cp requirements/build.txt requirements/dev.txt requirements/runtime.txt "$scratch/"
    compile "$scratch"
    stale=0
    for lock in build dev runtime; do
      if ! diff -u <(pins "requirements/$lock.txt") <(pins "$scratch/$lock.txt") \
        --label "requirements/$lock.txt (committed)" --label "$lock.txt (pyproject.toml now)"; then
        stale=1
      fi
    done
    if [ "$stale" -ne 0 ]; then
      echo "lock-check: requirements/*.txt do not match pyproject.toml; run \`make lock\`" >&2
      exit 1
    fi
    echo "lock-check: requirements/*.txt match pyproject.toml"
    ;;
  *)
    echo "usage: $0 write|check" >&2
    exit 2
    ;;
esac
