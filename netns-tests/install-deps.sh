#!/bin/sh
# Installs the Debian packages the netns integration tests need (run as root).
# iproute2: ip (namespaces, veth, bridge); ethtool: multi-queue channel setup;
# iputils-ping: connectivity checks. Daemon-specific tools (keepalived, bird2,
# ...) are checked per test by require_tool(), which names their package.
set -eu
pkgs="iproute2 ethtool iputils-ping"
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
fi
