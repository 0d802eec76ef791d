#!/usr/bin/env bash
# System packages the test suite uses beyond Python ones:
#   postgresql            - a real server for the multi-machine search tests (started by the tests)
#   chromium              - headless browser that renders the HTML report in its test
#   dataset-fashion-mnist - an IDX data set in /usr/share/datasets, for the IDX folder loader
# Installed with apt-get when we are root (as on CI); otherwise the tests that
# need them are skipped with a message saying what is missing.
set -euo pipefail
want=()
command -v pg_ctl >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || want+=(postgresql)
command -v chromium >/dev/null 2>&1 || want+=(chromium)
[ -d /usr/share/datasets/fashion-mnist ] || want+=(dataset-fashion-mnist)
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
