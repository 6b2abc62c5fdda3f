#!/bin/sh
# SPDX-License-Identifier: MIT
# Alerts and closes against real TLS peers (openssl, gnutls-cli, python3 ssl), on every usable
# backend. Without the peers installed this is a skip that says which one is missing.
missing=""
for tool in openssl gnutls-cli python3; do
	command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
if [ -n "$missing" ]; then
	echo "SKIP real-peers: not installed:$missing (apt-get install openssl gnutls-bin python3)"
	exit 77
fi
builddir=${TLSIO_BUILDDIR:-.}
exec python3 "$(dirname "$0")/real-peers.py" "$builddir" "${TLSIO_TEST_CERTS:-$(dirname "$0")/certs}" "$@"
