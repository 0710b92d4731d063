#!/usr/bin/env bash
# Render a report's index.html in headless Chromium and save a full-page screenshot to look at.
#
#   scripts/check_report_html.sh REPORT_DIR [SCREENSHOT.png] [HEIGHT_PX]
#
# Needs Debian's chromium (apt-get install -y chromium). Exits 2 when it is missing, 1 when the
# page or an image it references is missing or the screenshot comes out empty. Chromium runs
# sandbox-less with a throwaway profile and no network features, so it works as root in a
# container and leaves nothing behind.
set -euo pipefail

report=${1:?usage: $0 REPORT_DIR [SCREENSHOT.png] [HEIGHT_PX]}
shot=${2:-$report/screenshot.png}
height=${3:-9000}
chromium=${CHROMIUM:-/usr/bin/chromium}

if [[ ! -x $chromium ]]; then
    echo "check_report_html: $chromium not found (apt-get install -y chromium)" >&2
    exit 2
fi
page=$(cd "$report" && pwd)/index.html
[[ -f $page ]] || { echo "check_report_html: no index.html in $report" >&2; exit 1; }

# Every <img src> must name a non-empty file beside the page: the report has no other assets.
missing=0
while read -r src; do
    if [[ ! -s $report/$src ]]; then
        echo "check_report_html: index.html shows $src, which is missing or empty" >&2
        missing=1
    fi
done < <(grep -o '<img src="[^"]*"' "$page" | sed 's/<img src="//; s/"$//')
[[ $missing == 0 ]] || exit 1

profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
rm -f "$shot"
timeout 120 "$chromium" --headless --no-sandbox --disable-gpu --disable-background-networking \
    --disable-component-update --disable-sync --no-first-run --hide-scrollbars \
    --user-data-dir="$profile" --window-size=1280,"$height" \
    --screenshot="$shot" "file://$page" >/dev/null 2>&1 || true

if [[ ! -s $shot ]]; then
    echo "check_report_html: Chromium wrote no screenshot of $page" >&2
    exit 1
fi
echo "check_report_html: $page rendered; screenshot in $shot ($(stat -c %s "$shot") bytes)"
