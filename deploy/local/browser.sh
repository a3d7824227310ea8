#!/usr/bin/env bash
# Headless Chromium and its driver from Debian, for the JS tag's browser tests.
source "$(dirname "$0")/common.sh"
apt_install chromium chromium-driver
