#!/bin/sh
# Debian's chromium for the report's browser tests (tests/test_report.py): installed with apt-get where it is
# missing and this is a Debian-like machine run as root; anywhere else it says so and succeeds, and those tests
# skip with the reason. Never fails the caller.
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_chromium: no apt-get here; install Chromium yourself to run the report's browser tests (they skip)"
    exit 0
fi
if [ "$(id -u)" != "0" ]; then
    echo "install_chromium: not root; run 'sudo apt-get install -y chromium' to run the report's browser tests (they skip)"
    exit 0
fi
echo "install_chromium: apt-get install chromium (for the report's browser tests)"
export DEBIAN_FRONTEND=noninteractive
{ apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1 ||
  { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1; }; } ||
    echo "install_chromium: apt-get could not install chromium; the report's browser tests will skip"
exit 0
