#!/usr/bin/env bash
# Installs every Debian package that normlab's build, tests and plots need. Idempotent: packages
# already present are left alone, and apt is only called when something is missing.
set -euo pipefail
pkgs=(build-essential cmake pkg-config libeigen3-dev catch2 zlib1g-dev libcli11-dev nlohmann-json3-dev
      libgnuplot-iostream-dev libboost-iostreams-dev libboost-filesystem-dev libboost-context-dev gnuplot-nox
      clang libclang-rt-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#pkgs[@]} packages already installed"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
