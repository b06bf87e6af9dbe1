#!/usr/bin/env bash
# Generates throw-away test certificates into DIR (never committed): a CA, a server certificate
# for 127.0.0.1/localhost, a client certificate (CN=certuser) from the CA, and a "bad" client
# certificate from another CA. Also a second server certificate from the other CA (reload test).
set -euo pipefail
dir=$1
mkdir -p "$dir"
cd "$dir"
q() { "$@" >/dev/null 2>&1; }
ca() {  # name
  q openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=parley test $1" -keyout "$1.key" -out "$1.crt"
}
leaf() {  # name ca cn ext
  q openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$3" \
    -keyout "$1.key" -out "$1.csr"
  printf '%s\n' "$4" > "$1.ext"
  q openssl x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" -CAcreateserial -days 2 \
    -extfile "$1.ext" -out "$1.crt"
}
ca ca
ca otherca
leaf server ca localhost "subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth"
leaf server2 otherca localhost "subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth"
leaf client ca certuser "extendedKeyUsage=clientAuth"
leaf badclient otherca certuser "extendedKeyUsage=clientAuth"
chmod 600 ./*.key
