#!/bin/sh
# SPDX-License-Identifier: MIT
# Regenerate the test PKI: a CA and a server certificate it signs (localhost, 127.0.0.1, ::1,
# example.test), and an unrelated CA with its own server certificate (for unknown_ca tests).
# Valid for 100 years so the suite does not rot.
# Then the peer-identity certificates, all signed by ca.pem/ca.key and all with server.key as
# their key (no new key files): evil.pem (DNS:evil.example only), ip-only.pem (IP SANs only),
# cn-only.pem (CN=127.0.0.1, DNS:cn-only.test only), wildcard.pem (*.wild.test, f*.part.test,
# *.test), expired.pem (2000-2001) and future.pem (2090-2100) with the names of server.pem, and
# client.pem (CN=client-one, DNS:client-one.test, email:client-one@example.test, clientAuth),
# serial-top-bit.pem (serial 0x80ABCDEF01: DER writes it with a leading 00 byte), upper.pem
# (DNS:Upper.EXAMPLE.Test: names match case-insensitively on both sides).
# The deployment files (gen.sh deploy): rsa-server.pem/.key (RSA 2048 with server.pem's names:
# a chain beside the ECDSA one), renewed.pem (CN=localhost renewed, server.key, server.pem's
# names: what a reload swaps in) and server-enc.key (server.key as PKCS#8 under PBES2 with
# AES-256-CBC, passphrase "libtlsio test").
# Usage: gen.sh           regenerate everything (new CAs and keys: every certificate changes)
#        gen.sh deploy    regenerate only the deployment files
#        gen.sh identity  regenerate only the peer-identity certificates, keeping the existing
#                         ca.pem, ca.key and server.key (and every other file) as they are
set -e
cd "$(dirname "$0")"
days=36500

# The identity certificates go through `openssl ca` (openssl 3.0's `x509 -req` cannot set an
# explicit notBefore), with a throw-away config, database, CSRs and extension files in a
# temporary directory; serial numbers are random (-rand_serial), no CSR extension is copied.
identity() {
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/libtlsio-certs.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  trap 'exit 1' HUP INT TERM
  : > "$tmp/index.txt"
  cat > "$tmp/ca.cnf" <<CNF
[ca]
default_ca = test_ca
[test_ca]
database = $tmp/index.txt
new_certs_dir = $tmp
serial = $tmp/serial
default_md = sha256
policy = policy_anything
copy_extensions = none
unique_subject = no
[policy_anything]
commonName = supplied
CNF
  # file, subject CN, subjectAltName, extendedKeyUsage, validity
  while read -r name cn san eku validity; do
    openssl req -new -key server.key -subj "/CN=$cn" -out "$tmp/$name.csr"
    printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=%s\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' \
      "$san" "$eku" > "$tmp/$name.ext"
    openssl ca -batch -notext -config "$tmp/ca.cnf" -cert ca.pem -keyfile ca.key -rand_serial \
      -extfile "$tmp/$name.ext" $validity -in "$tmp/$name.csr" -out "$tmp/$name.pem"
  done <<LIST
evil evil.example DNS:evil.example serverAuth,clientAuth -days $days
ip-only ip-only IP:127.0.0.1,IP:::1 serverAuth,clientAuth -days $days
cn-only 127.0.0.1 DNS:cn-only.test serverAuth,clientAuth -days $days
wildcard wildcard DNS:*.wild.test,DNS:f*.part.test,DNS:*.test serverAuth,clientAuth -days $days
expired localhost DNS:localhost,IP:127.0.0.1,IP:::1 serverAuth,clientAuth -startdate 20000101000000Z -enddate 20010101000000Z
future localhost DNS:localhost,IP:127.0.0.1,IP:::1 serverAuth,clientAuth -startdate 20900101000000Z -enddate 21000101000000Z
client client-one DNS:client-one.test,email:client-one@example.test clientAuth -days $days
upper upper DNS:Upper.EXAMPLE.Test serverAuth,clientAuth -days $days
LIST
  # a serial number whose top bit is set: DER puts a 00 byte before it, openssl -serial does not
  openssl req -new -key server.key -subj "/CN=serial-top-bit" -out "$tmp/serial.csr"
  printf 'subjectAltName=DNS:serial.test\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
    > "$tmp/serial.ext"
  openssl x509 -req -in "$tmp/serial.csr" -CA ca.pem -CAkey ca.key -set_serial 0x80ABCDEF01 \
    -days $days -extfile "$tmp/serial.ext" -out "$tmp/serial-top-bit.pem"
  for name in evil ip-only cn-only wildcard expired future client upper serial-top-bit; do
    mv -f "$tmp/$name.pem" "$name.pem"
  done
  rm -rf "$tmp"
  trap - EXIT HUP INT TERM
}

deploy() {
  ext=$(mktemp "${TMPDIR:-/tmp}/libtlsio-ext.XXXXXX")
  printf 'subjectAltName=DNS:localhost,DNS:example.test,IP:127.0.0.1,IP:::1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > "$ext"
  openssl req -new -newkey rsa:2048 -nodes -keyout rsa-server.key -subj "/CN=localhost rsa" -out "$ext.csr"
  openssl x509 -req -in "$ext.csr" -CA ca.pem -CAkey ca.key -set_serial 0x5253410001 -days $days \
    -extfile "$ext" -out rsa-server.pem
  openssl req -new -key server.key -subj "/CN=localhost renewed" -out "$ext.csr"
  openssl x509 -req -in "$ext.csr" -CA ca.pem -CAkey ca.key -set_serial 0x52454E0001 -days $days \
    -extfile "$ext" -out renewed.pem
  openssl pkey -in server.key -aes-256-cbc -passout pass:"libtlsio test" -out server-enc.key
  rm -f "$ext" "$ext.csr"
}

case ${1-} in
  identity) identity; exit 0 ;;
  deploy) deploy; exit 0 ;;
  '') ;;
  *) echo "usage: $0 [identity|deploy]" >&2; exit 2 ;;
esac

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
identity
deploy
