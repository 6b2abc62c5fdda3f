#!/bin/sh
# SPDX-License-Identifier: MIT
# Regenerate the test PKI: a CA and a server certificate it signs (localhost, 127.0.0.1, ::1,
# example.test), and an unrelated CA with its own server certificate (for unknown_ca tests).
# Valid for 100 years so the suite does not rot.
set -e
cd "$(dirname "$0")"
days=36500
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.pem \
  -days $days -subj "/CN=libtlsio test CA" -addext basicConstraints=critical,CA:TRUE \
  -addext keyUsage=critical,keyCertSign,cRLSign
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout other-ca.key -out other-ca.pem \
  -days $days -subj "/CN=libtlsio untrusted CA" -addext basicConstraints=critical,CA:TRUE \
  -addext keyUsage=critical,keyCertSign,cRLSign
for pair in "server ca" "other-server other-ca"; do
  set -- $pair
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=localhost"
  printf 'subjectAltName=DNS:localhost,DNS:example.test,IP:127.0.0.1,IP:::1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n' > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -out "$1.pem" -days $days -extfile "$1.ext"
  rm -f "$1.csr" "$1.ext" "$2.srl"
done
