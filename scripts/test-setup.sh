#!/usr/bin/env bash
# System packages the test suite uses beyond Python ones:
#   postgresql  - a real server for the multi-process search tests (started by the tests)
#   chromium    - headless browser for the report test
# Installed with apt-get when we are root (as on CI); otherwise the tests that
# need them are skipped with a message saying what is missing.
set -euo pipefail
want=()
command -v pg_ctl >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || want+=(postgresql)
if [ ${#want[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "test-setup: installing ${want[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
else
  echo "test-setup: not root; tests needing ${want[*]} will be skipped" >&2
fi
