#!/bin/sh
# The report test opens the report in a real headless Chromium (Debian's chromium package).
# Installs it when missing: as root with apt-get, else through sudo.
set -e
if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
else
    SUDO="sudo"
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
command -v chromium
