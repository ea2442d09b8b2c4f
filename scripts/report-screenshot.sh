#!/usr/bin/env bash
# Makes docs/report.png, the README's picture of `kvs-mkv inspect --html`: the report of
# ../shared/conformance/kvs-java/output-get-media-non-increasing-timecode.mkv (a gap in
# producer time, a timestamp restart, an incomplete last fragment), opened in headless
# chromium (apt-get install -y chromium) with one fragment's tooltip shown.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test -p kvs-cli --test report -- --ignored --exact readme_screenshot --nocapture
