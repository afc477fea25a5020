#!/usr/bin/env bash
# A headless browser for the arena's browser tests (Debian/Ubuntu, root): installs Debian's
# `chromium` and `chromium-driver` (/usr/bin/chromium, /usr/bin/chromedriver) when either is
# missing, so Selenium never needs to download a driver. Idempotent and quick when both are present.
#   bash scripts/browser_local.sh       # install when missing, then print one status line
set -euo pipefail

CHROMIUM=/usr/bin/chromium
DRIVER=/usr/bin/chromedriver

die() { echo "browser_local: $*" >&2; exit 1; }
[[ $# -eq 0 ]] || die "usage: $0"

installed=""
if [[ ! -x $CHROMIUM || ! -x $DRIVER ]]; then
    [[ $(id -u) -eq 0 ]] || die "chromium/chromedriver missing and installing them needs root"
    export DEBIAN_FRONTEND=noninteractive
    # Try with the current package lists first; refresh them only if that fails (a fresh image
    # has none, and stale lists point at versions the mirror no longer has).
    if ! apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null 2>&1; then
        apt-get update -qq >/dev/null 2>&1 || die "apt-get update failed"
        apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null 2>&1 \
            || die "apt-get install chromium chromium-driver failed"
    fi
    [[ -x $CHROMIUM && -x $DRIVER ]] || die "apt installed chromium but $CHROMIUM or $DRIVER is still missing"
    installed="installed; "
fi

# Both print e.g. "Chromium 120.0.6099.224 built on Debian ..." / "ChromeDriver 120.0.6099.224 (...)".
browser=$("$CHROMIUM" --headless --no-sandbox --version 2>/dev/null | head -1) || die "$CHROMIUM --version failed"
driver=$("$DRIVER" --version 2>/dev/null | head -1) || die "$DRIVER --version failed"
echo "browser_local: ${installed}${browser:-chromium ?} at $CHROMIUM; ${driver%% (*} at $DRIVER"
