#!/usr/bin/env bash
# Renders asynqmon, as served by a worker's ops port, in headless Debian
# chromium and saves screenshots of what an operator sees: a dead-lettered
# task's last error, a completed task's result, the ID column, and the
# dashboard drawn with every outside host blackholed. Rerun any
# time: bash .ci/asynqmon-screenshot.sh [OUTDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-screenshots}
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v redis-server >/dev/null || need+=(redis-server)
# A CJK font, so WDT's Chinese messages render as text, not boxes.
fc-list 2>/dev/null | grep -qi "wenquanyi\|noto sans cjk" || need+=(fonts-wqy-microhei)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi
mkdir -p "$out"
WDTCANCEL_REQUIRE_BROWSER=1 WDTCANCEL_SCREENSHOT_DIR="$(cd "$out" && pwd)" \
  go test -count=1 -run "TestAsynqmonRendersArchivedTask|TestAsynqmonDrawsWithOutsideHostsBlackholed" -v ./worker/
ls -l "$out"/*.png
