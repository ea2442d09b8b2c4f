#!/usr/bin/env bash
# Makes docs/dashboard.png, the README's picture of the `kvs-mkv serve` dashboard: the
# headless-chromium test of crates/local/tests/dashboard.rs (a live H.264 stream and an
# audio-only one, --throttle-rate 5) saves its screenshot there (apt-get install -y chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
KVS_DASHBOARD_SCREENSHOT="$PWD/docs/dashboard.png" cargo test -p kvs-local --test dashboard -- \
    --exact a_real_browser_shows_the_live_dashboard_and_its_thumbnail_changes --nocapture
