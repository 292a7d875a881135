#!/usr/bin/env bash
# Installs every Debian package Switchyard needs to build, test and benchmark.
# Idempotent: does nothing when everything is present. Runs apt-get update before installing.
set -euo pipefail
PKGS=(build-essential pkg-config clang clang-format libclang-rt-14-dev
      libuv1-dev node-llhttp libcjson-dev libyaml-dev libxxhash-dev libcmocka-dev
      libzmq3-dev libmsgpack-dev libpcre2-dev libnghttp2-dev libssl-dev openssl dnsmasq-base
      python3 nodejs npm prometheus nginx-light wrk curl chromium iproute2)
missing=()
for p in "${PKGS[@]}"; do
    # nodejs/npm may come from elsewhere on the image; accept the commands.
    case "$p" in
    nodejs) command -v node >/dev/null 2>&1 && continue ;;
    npm) command -v npm >/dev/null 2>&1 && continue ;;
    python3) command -v python3 >/dev/null 2>&1 && continue ;;
    esac
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
