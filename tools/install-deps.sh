#!/usr/bin/env bash
# Installs the Debian 12 packages Parley needs to build, run and test — only those missing.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  clang libclang-rt-14-dev clang-format
  libboost-dev libboost-system-dev libboost-program-options-dev
  librocksdb-dev libssl-dev libjwt-dev libflatbuffers-dev flatbuffers-compiler
  libgtest-dev libgmock-dev
  libpaho-mqtt-dev libpaho-mqttpp-dev
  nlohmann-json3-dev curl
  mosquitto mosquitto-clients nats-server
  openssl curl
)

# Node.js and npm run MQTT.js in the transport tests (tests/transport installs it from npm into
# the build tree). A machine that already has them (e.g. from another repository) keeps its own;
# Debian's npm package would conflict with such a nodejs.
command -v node >/dev/null 2>&1 || PACKAGES+=(nodejs)
command -v npm >/dev/null 2>&1 || PACKAGES+=(npm)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "parley: installing missing Debian packages: ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The mosquitto package starts a system broker on port 1883; Parley's own runs would collide.
if command -v systemctl >/dev/null 2>&1; then
  $SUDO systemctl disable --now mosquitto >/dev/null 2>&1 || true
fi
