#!/bin/sh
# SPDX-License-Identifier: MIT
# TLS for deployments, through tlsio-https and tlsio-get, against real peers, on every usable
# backend (the server and the libtlsio client both on it). Each check is decided by what the
# peer reports, not only by our own tools:
#  a. client resumption: tlsio-get --repeat 4 --new-connection against openssl s_server -www,
#     TLS 1.3 and 1.2, says "resumed 3", and s_server's own statistics page agrees: 5 accepts
#     (with the page's own) of which 3 were "session cache hits";
#  b. the same against tlsio-https, whose GET /stats 'resumed' counts them (3, then 6);
#  c. server tickets across processes: two tlsio-https with one --ticket-key (one file raw, the
#     other the same key in hex) resume each other's sessions (openssl s_client -sess_out to one,
#     -sess_in to the other says "Reused", TLS 1.3 and 1.2; tlsio-get --session-out/--session-in
#     likewise), and a third with another key does not ("New": the check can fail); --threads 2
#     without --ticket-key shares one configuration, so a session resumes on either thread;
#  d. ticket rotation: a new key file and SIGHUP: a session from before still resumes (grace),
#     and the ticket it gets is under the new key (a process with only the new key takes it and
#     refuses the old one); with --ticket-grace 0 the old session is refused;
#  e. reload under load: wrk (a new connection per request) while 20 SIGHUPs swap server.pem and
#     renewed.pem (renamed in, as deployments do): no socket error nor non-2xx in wrk, 20
#     "reloaded:" lines, and s_client then sees the current certificate's CN; a broken
#     certificate gives "reload failed:" naming the file, and the old certificate is still served;
#  f. several chains (--chain RSA beside ECDSA): an RSA-only client (s_client -sigalgs, TLS 1.3
#     and 1.2 with an ECDHE-RSA suite; gnutls-cli with RSA signatures only) gets "localhost rsa",
#     default clients (s_client, python ssl) get the ECDSA "localhost";
#  g. an SNI map: a wildcard entry, an exact one under it (exact wins), an exact one curl can
#     verify with the other CA; the bare domain, two labels and no SNI get the default;
#  h. ALPN --alpn http/1.1: s_client offering h2 only gets alert 120 (no_application_protocol),
#     offering http/1.1 gets it, offering none connects; curl (h2,http/1.1) speaks HTTP/1.1;
#  i. an encrypted key with --passphrase-file: the right passphrase serves, a wrong one (or no
#     passphrase) is exit 1 with a message naming the file.
# Skips (77): openssl, curl, gnutls-cli, python3 or wrk missing.
. "$(dirname "$0")/lib.sh"
missing=
for t in openssl curl gnutls-cli wrk; do
	command -v "$t" >/dev/null 2>&1 || missing="$missing $t"
done
tlsio_test_python || missing="$missing python3"
[ -z "$missing" ] ||
	{ echo "SKIP deploy: not installed:$missing (apt-get install openssl curl gnutls-bin wrk python3)"; exit 77; }
unset SSLKEYLOGFILE
tlsio_test_init deploy tlsio-https tlsio-get
ca=$certs/ca.pem cert=$certs/server.pem key=$certs/server.key

# every process started here, killed at exit
pids= # killed at exit by tlsio_test_cleanup (tests/lib.sh)

# https NAME ARGS...: tlsio-https on $be with those arguments (--cert/--key server.pem unless
# given) on 127.0.0.1:0; sets spid and sport ("" and a failure if it did not start);
# stdout/stderr in $tmp/NAME.out and $tmp/NAME.err.
https() {
	n=$1
	shift
	case " $* " in *" --cert "*) ;; *) set -- --cert "$cert" --key "$key" "$@" ;; esac
	: >"$tmp/$n.out"
	"$bin/tlsio-https" --backend "$be" --listen 127.0.0.1:0 "$@" >"$tmp/$n.out" 2>"$tmp/$n.err" &
	spid=$!
	pids="$pids $spid"
	wait_for "$tmp/$n.out" '^listening on'
	sport=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$tmp/$n.out")
	[ -n "$sport" ] || fail "$be: tlsio-https $n did not start: $(cat "$tmp/$n.err")"
}

# stop WHAT PID ERRFILE: SIGTERM, which must end a tlsio-https with status 0 within 10 s.
stop() {
	kill -TERM "$2" 2>/dev/null
	i=0
	while kill -0 "$2" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
	kill -0 "$2" 2>/dev/null && { fail "$1: still running 10 s after SIGTERM"; kill -9 "$2"; }
	wait "$2"
	rc=$?
	[ $rc -eq 0 ] || fail "$1: exit status $rc after SIGTERM: $(tail -3 "$3")"
}

# s_server ARGS...: openssl s_server -www with server.pem; sets ppid and pport.
s_server() {
	: >"$tmp/s_server.out"
	openssl s_server -www -accept 127.0.0.1:0 -cert "$cert" -key "$key" "$@" >"$tmp/s_server.out" 2>&1 &
	ppid=$!
	pids="$pids $ppid"
	wait_for "$tmp/s_server.out" '^ACCEPT'
	pport=$(sed -n 's/^ACCEPT .*:\([0-9]*\)$/\1/p' "$tmp/s_server.out")
	[ -n "$pport" ] || fail "$be: openssl s_server $* did not start: $(cat "$tmp/s_server.out")"
}

# sc PORT ARGS...: openssl s_client to 127.0.0.1:PORT sending an HTTP/1.0 GET and reading to
# the server's close; its output in $tmp/sc, the lines that matter in $sc ("New, TLSv1.3,
# Cipher is ...", "subject=...", ALPN, alerts, the HTTP status) for the messages.
sc() {
	p=$1
	shift
	printf 'GET / HTTP/1.0\r\n\r\n' | timeout 10 openssl s_client -connect "127.0.0.1:$p" \
		-CAfile "$ca" -ign_eof "$@" >"$tmp/sc" 2>&1
	sc=$(grep -E '^(New|Reused),|^subject=|^issuer=|ALPN|alert|^HTTP/|Verify return' "$tmp/sc" |
		sed 's/^ *//; s/^.*:\([^:]*alert [^:]*\):.*\(SSL alert number [0-9]*\)$/\1 (\2)/' | tr '\n' '|')
}

# sc_has WHAT PATTERN: the s_client output just taken has a line matching PATTERN.
sc_has() {
	grep -q -- "$2" "$tmp/sc" || fail "$be: $1: openssl s_client: no '$2': $sc"
}

# tget PORT ARGS...: tlsio-get --json on $be; sets get_rc, hs, res (handshakes, resumed) and
# got (its output, for the messages).
tget() {
	p=$1
	shift
	"$bin/tlsio-get" --backend "$be" --connect "127.0.0.1:$p" --ca "$ca" --server-name localhost \
		--json "$@" >"$tmp/get" 2>&1
	get_rc=$?
	got=$(tr '\n' ' ' <"$tmp/get")
	hs=$(sed -n 's/.*"handshakes":\([0-9]*\).*/\1/p' "$tmp/get")
	res=$(sed -n 's/.*"resumed":\([0-9]*\).*/\1/p' "$tmp/get")
}

# tget_expect WHAT HANDSHAKES RESUMED [VERSION]: the last tget exited 0 with those counts.
tget_expect() {
	if [ $get_rc -ne 0 ] || [ "$hs" != "$2" ] || [ "$res" != "$3" ]; then
		fail "$be: $1: tlsio-get (exit $get_rc) reports handshakes '$hs' resumed '$res', expected $2 and $3: $got"
	elif [ -n "${4-}" ] && ! grep -q "\"version\":\"TLSv$4\"" "$tmp/get"; then
		fail "$be: $1: tlsio-get did not use TLS $4: $got"
	fi
}

# stats_of PORT NAME: a line of tlsio-https's GET /stats (fetched by curl, which resumes nothing).
stats_of() {
	curl -s --resolve "localhost:$1:127.0.0.1" --cacert "$ca" "https://localhost:$1/stats" |
		sed -n "s/^$2 //p"
}

# key_hex FILE: a 48-byte file as 96 hex digits.
key_hex() {
	od -An -v -tx1 "$1" | tr -d ' \n'
}

# wait_count FILE PATTERN N: up to 10 s for N lines matching PATTERN in FILE; prints the count.
wait_count() {
	i=0
	while [ "$(grep -c -- "$2" "$1")" -lt "$3" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
	grep -c -- "$2" "$1"
}

list=$("$bin/tlsio-https" --list-backends) || { echo "FAIL: tlsio-https --list-backends"; exit 1; }
usable=$(echo "$list" | awk 'NF == 1 { print $1 }')
[ -n "$usable" ] || { echo "SKIP deploy: no usable backend"; exit 77; }
openssl rand 48 >"$tmp/key1"
openssl rand 48 >"$tmp/key2"
key_hex "$tmp/key1" >"$tmp/key1.hex"
printf 'libtlsio test\n' >"$tmp/pass"
printf 'libtlsio tes\n' >"$tmp/wrong-pass"
printf -- '-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n' >"$tmp/broken.pem"

for be in $usable; do
	before=$failures
	t0=$(date +%s)

	# a. tlsio-get's session cache against openssl s_server (its own ticket/cache logic)
	seen_a=
	for v in 1.3 1.2; do
		s_server "-tls1_${v#1.}"
		[ -n "$pport" ] || continue
		tget "$pport" --repeat 4 --new-connection
		tget_expect "a: TLS $v against openssl s_server" 4 3 "$v"
		page=$(curl -s --resolve "localhost:$pport:127.0.0.1" --cacert "$ca" "https://localhost:$pport/")
		acc=$(echo "$page" | sed -n 's/^ *\([0-9]*\) server accepts that finished/\1/p')
		hits=$(echo "$page" | sed -n 's/^ *\([0-9]*\) session cache hits/\1/p')
		[ "$acc" = 5 ] && [ "$hits" = 3 ] ||
			fail "$be: a: TLS $v: openssl s_server counts $acc accepts (expected 5: 4 + curl's) and $hits session cache hits (expected 3): $(echo "$page" | grep -E 'accepts|cache hits|misses' | tr -s ' ' | tr '\n' '|')"
		seen_a="$seen_a TLS $v: tlsio-get handshakes $hs resumed $res, s_server '$acc server accepts that finished', '$hits session cache hits';"
		kill "$ppid" 2>/dev/null
		wait "$ppid" 2>/dev/null
	done
	[ $failures -ne $before ] || echo "  $be: a: openssl s_server -www:$seen_a"

	# b. tlsio-get against tlsio-https: both ends count the resumptions
	f0=$failures
	https b
	if [ -n "$sport" ]; then
		tget "$sport" --repeat 4 --new-connection --tls-max 1.2
		tget_expect "b: TLS 1.2 against tlsio-https" 4 3 1.2
		r=$(stats_of "$sport" resumed)
		[ "$r" = 3 ] || fail "$be: b: TLS 1.2: tlsio-https GET /stats says resumed '$r', expected 3"
		tget "$sport" --repeat 4 --new-connection
		tget_expect "b: TLS 1.3 against tlsio-https" 4 3 1.3
		r=$(stats_of "$sport" resumed)
		[ "$r" = 6 ] || fail "$be: b: TLS 1.3: tlsio-https GET /stats says resumed '$r', expected 6"
		stop "$be: b: tlsio-https" "$spid" "$tmp/b.err"
	fi
	[ $failures -ne $f0 ] || echo "  $be: b: tlsio-https: TLS 1.2 and 1.3, resumed 3 of 4 each, GET /stats resumed $r"

	# c. one ticket key, two processes (raw and hex file); another key; --threads 2
	f0=$failures seen_c=
	https c1 --ticket-key "$tmp/key1"
	c1=$spid c1p=$sport
	https c2 --ticket-key "$tmp/key1.hex"
	c2=$spid c2p=$sport
	https c3 --ticket-key "$tmp/key2"
	c3=$spid c3p=$sport
	if [ -n "$c1p" ] && [ -n "$c2p" ] && [ -n "$c3p" ]; then
		for v in 1.3 1.2; do
			sc "$c1p" "-tls1_${v#1.}" -sess_out "$tmp/sess"
			sc_has "c: TLS $v: first process" "^New, TLSv$v"
			sc "$c2p" "-tls1_${v#1.}" -sess_in "$tmp/sess"
			sc_has "c: TLS $v: same key, other process" "^Reused, TLSv$v"
			seen_c="$seen_c TLS $v: $(grep -E '^(New|Reused),' "$tmp/sc")"
			sc "$c3p" "-tls1_${v#1.}" -sess_in "$tmp/sess"
			sc_has "c: TLS $v: other key" "^New, TLSv$v"
			rm -f "$tmp/g.sess"
			tget "$c1p" --tls-max "$v" --session-out "$tmp/g.sess"
			tget_expect "c: TLS $v: tlsio-get --session-out, first process" 1 0 "$v"
			tget "$c2p" --session-in "$tmp/g.sess"
			tget_expect "c: TLS $v: tlsio-get --session-in, same key, other process" 1 1 "$v"
			tget "$c3p" --session-in "$tmp/g.sess"
			tget_expect "c: TLS $v: tlsio-get --session-in, other key" 1 0 "$v"
		done
		r=$(stats_of "$c2p" resumed)
		[ "$r" = 4 ] || fail "$be: c: GET /stats of the second process: resumed '$r', expected 4"
	fi
	for p in "$c1:c1" "$c2:c2" "$c3:c3"; do
		stop "$be: c: tlsio-https ${p#*:}" "${p%:*}" "$tmp/${p#*:}.err"
	done
	# two threads, one configuration (its own random ticket key): 24 new connections, so that
	# both threads get some (all on one: 2^-23), each resuming the previous one's session
	https c4 --threads 2
	if [ -n "$sport" ]; then
		tget "$sport" --repeat 24 --new-connection
		tget_expect "c: --threads 2" 24 23
		# one GET /stats (its connection is the 25th accepted)
		curl -s --resolve "localhost:$sport:127.0.0.1" --cacert "$ca" "https://localhost:$sport/stats" >"$tmp/stats"
		t0a=$(sed -n 's/^thread0_accepted //p' "$tmp/stats") t1a=$(sed -n 's/^thread1_accepted //p' "$tmp/stats")
		r=$(sed -n 's/^resumed //p' "$tmp/stats")
		[ "$r" = 23 ] && [ "${t0a:-0}" -ge 1 ] && [ "${t1a:-0}" -ge 1 ] && [ $((t0a + t1a)) -eq 25 ] ||
			fail "$be: c: --threads 2: GET /stats: resumed '$r' (expected 23), thread0_accepted '$t0a', thread1_accepted '$t1a' (both expected >= 1, 25 in all)"
		stop "$be: c: tlsio-https --threads 2" "$spid" "$tmp/c4.err"
	fi
	[ $failures -ne $f0 ] ||
		echo "  $be: c: one --ticket-key in two processes: s_client -sess_in:$seen_c; other key: New; tlsio-get --session-in resumed 1 / 0; --threads 2: resumed 23 of 24 (threads $t0a + $t1a)"

	# d. rotation: new key file + SIGHUP; grace, and the fresh ticket under the new key
	f0=$failures
	cp "$tmp/key1" "$tmp/rot"
	https d --ticket-key "$tmp/rot"
	d=$spid dp=$sport
	https d2 --ticket-key "$tmp/key2"
	d2=$spid d2p=$sport
	cp "$tmp/key1" "$tmp/rot0"
	https d0 --ticket-key "$tmp/rot0" --ticket-grace 0
	d0=$spid d0p=$sport
	if [ -n "$dp" ] && [ -n "$d2p" ] && [ -n "$d0p" ]; then
		sc "$dp" -tls1_3 -sess_out "$tmp/old13"
		sc "$d0p" -tls1_3 -sess_out "$tmp/old13-0"
		rm -f "$tmp/old12"
		tget "$dp" --tls-max 1.2 --session-out "$tmp/old12"
		cp "$tmp/key2" "$tmp/rot.new" && mv "$tmp/rot.new" "$tmp/rot"
		cp "$tmp/key2" "$tmp/rot0"
		kill -HUP "$d" "$d0"
		[ "$(wait_count "$tmp/d.err" '^reloaded:' 1)" = 1 ] ||
			fail "$be: d: no 'reloaded:' line after SIGHUP: $(tail -2 "$tmp/d.err")"
		wait_count "$tmp/d0.err" '^reloaded:' 1 >/dev/null
		grep -q '^reloaded:.*new ticket key' "$tmp/d.err" ||
			fail "$be: d: the reload does not say the ticket key changed: $(grep reload "$tmp/d.err")"
		sc "$dp" -tls1_3 -sess_in "$tmp/old13" -sess_out "$tmp/new13"
		sc_has "d: TLS 1.3: a session of the old key after the rotation (grace)" '^Reused, TLSv1.3'
		seen_d="$sc"
		sc "$d2p" -tls1_3 -sess_in "$tmp/new13"
		sc_has "d: TLS 1.3: the ticket given in the grace, to a process with only the new key" '^Reused, TLSv1.3'
		sc "$d2p" -tls1_3 -sess_in "$tmp/old13"
		sc_has "d: TLS 1.3: a session of the old key, to a process with only the new key" '^New, TLSv1.3'
		sc "$d0p" -tls1_3 -sess_in "$tmp/old13-0"
		sc_has "d: TLS 1.3: a session of the old key after a rotation with --ticket-grace 0" '^New, TLSv1.3'
		rm -f "$tmp/new12"
		tget "$dp" --session-in "$tmp/old12" --session-out "$tmp/new12"
		tget_expect "d: TLS 1.2: tlsio-get, a session of the old key after the rotation" 1 1 1.2
		tget "$d2p" --session-in "$tmp/new12"
		# wolfSSL 5.5.4 drops the renewal on TLS 1.2; the library restores it through wolfSSL's
		# internals (tls/wolfint.c), which only the tuned build's prefix has
		case $(sed -n 's/.*crypto: //p' "$tmp/d.err" | head -n 1) in
		*"tuned build"*)
			tget_expect "d: TLS 1.2: tlsio-get, the ticket given in the grace, to a process with only the new key" 1 1 1.2 ;;
		*)
			tget_expect "d: TLS 1.2: tlsio-get, a process with only the new key (no renewal in this wolfSSL)" 1 0 1.2
			echo "  $be: d: TLS 1.2 ticket renewal under the previous key: not available in this wolfSSL (not the tuned build): such clients keep their ticket until the grace ends, then do a full handshake" ;;
		esac
	fi
	for p in "$d:d" "$d2:d2" "$d0:d0"; do
		stop "$be: d: tlsio-https ${p#*:}" "${p%:*}" "$tmp/${p#*:}.err"
	done
	[ $failures -ne $f0 ] ||
		echo "  $be: d: after a key rotation and SIGHUP: old session '$seen_d'; its new ticket resumes where only the new key is; --ticket-grace 0: New"

	# e. 20 reloads under wrk, one handshake per request
	f0=$failures
	cp "$cert" "$tmp/live.pem"
	https e --cert "$tmp/live.pem" --key "$key"
	if [ -n "$sport" ]; then
		e=$spid ep=$sport
		wrk -t2 -c20 -d6s -H 'Connection: close' "https://127.0.0.1:$ep/" >"$tmp/wrk" 2>&1 &
		wrk_pid=$!
		pids="$pids $wrk_pid"
		sleep 0.5
		k=1
		while [ $k -le 20 ]; do
			# renamed in: a reload never reads a half-written file
			if [ $((k % 2)) -eq 1 ]; then cp "$certs/renewed.pem" "$tmp/live.new"; else cp "$cert" "$tmp/live.new"; fi
			mv "$tmp/live.new" "$tmp/live.pem"
			kill -HUP "$e"
			sleep 0.2
			k=$((k + 1))
		done
		wait $wrk_pid
		wrk_rc=$?
		n=$(wait_count "$tmp/e.err" '^reloaded:' 20)
		[ "$n" = 20 ] || fail "$be: e: $n 'reloaded:' lines after 20 SIGHUPs: $(grep reload "$tmp/e.err" | tail -3)"
		! grep -q 'reload failed' "$tmp/e.err" || fail "$be: e: $(grep 'reload failed' "$tmp/e.err" | head -1)"
		reqs=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$tmp/wrk")
		seen_wrk=$(grep -E 'requests in|Requests/sec' "$tmp/wrk" | sed 's/^ *//' | tr '\n' ' ')
		if [ $wrk_rc -ne 0 ] || grep -q -E 'Socket errors|Non-2xx' "$tmp/wrk" || [ "${reqs:-0}" -lt 100 ]; then
			fail "$be: e: wrk (exit $wrk_rc) under reloads: $(grep -E 'requests in|errors|Non-2xx' "$tmp/wrk" | tr '\n' '|')"
		fi
		sc "$ep" -servername localhost
		sc_has "e: after 20 reloads (server.pem current)" '^subject=CN = localhost$'
		cp "$certs/renewed.pem" "$tmp/live.new" && mv "$tmp/live.new" "$tmp/live.pem"
		kill -HUP "$e"
		wait_count "$tmp/e.err" '^reloaded:' 21 >/dev/null
		sc "$ep"
		sc_has "e: after the 21st reload (renewed.pem current)" '^subject=CN = localhost renewed$'
		seen_e="$sc"
		cp "$tmp/broken.pem" "$tmp/live.new" && mv "$tmp/live.new" "$tmp/live.pem"
		kill -HUP "$e"
		n=$(wait_count "$tmp/e.err" '^reload failed:' 1)
		grep -q "^reload failed: .*$tmp/live.pem" "$tmp/e.err" ||
			fail "$be: e: a broken certificate: no 'reload failed:' naming $tmp/live.pem: $(grep reload "$tmp/e.err" | tail -2)"
		sc "$ep"
		sc_has "e: after a failed reload (the renewed certificate kept)" '^subject=CN = localhost renewed$'
		rl=$(stats_of "$ep" reloads) rf=$(stats_of "$ep" reload_failures)
		[ "$rl" = 21 ] && [ "$rf" = 1 ] ||
			fail "$be: e: GET /stats: reloads '$rl' reload_failures '$rf', expected 21 and 1"
		stop "$be: e: tlsio-https" "$e" "$tmp/e.err"
	fi
	[ $failures -ne $f0 ] ||
		echo "  $be: e: wrk '$seen_wrk' (a handshake per request) over 20 reloads, no errors; then '$seen_e'; broken file: '$(grep '^reload failed' "$tmp/e.err" | cut -c1-110)'"

	# f. an RSA chain beside the ECDSA one
	f0=$failures
	https f --chain "$certs/rsa-server.pem:$certs/rsa-server.key"
	if [ -n "$sport" ]; then
		sc "$sport" -tls1_3 -sigalgs rsa_pss_rsae_sha256:RSA+SHA256
		sc_has "f: TLS 1.3, RSA signatures only" '^subject=CN = localhost rsa$'
		sc "$sport" -tls1_2 -sigalgs rsa_pss_rsae_sha256:RSA+SHA256 -cipher ECDHE-RSA-AES128-GCM-SHA256
		sc_has "f: TLS 1.2, RSA signatures and ECDHE-RSA only" '^subject=CN = localhost rsa$'
		sc_has "f: TLS 1.2, RSA signatures and ECDHE-RSA only" '^New, TLSv1.2, Cipher is ECDHE-RSA-AES128-GCM-SHA256'
		seen_f="$sc"
		sc "$sport" -tls1_3
		sc_has "f: TLS 1.3, default client" '^subject=CN = localhost$'
		sc "$sport" -tls1_2
		sc_has "f: TLS 1.2, default client" '^subject=CN = localhost$'
		gnutls-cli --x509cafile "$ca" -p "$sport" localhost \
			--priority NORMAL:-SIGN-ALL:+SIGN-RSA-SHA256:+SIGN-RSA-PSS-RSAE-SHA256 </dev/null >"$tmp/gnutls" 2>&1
		grep -q "subject \`CN=localhost rsa'" "$tmp/gnutls" && grep -q 'certificate is trusted' "$tmp/gnutls" ||
			fail "$be: f: gnutls-cli with RSA signatures only: $(grep -E 'subject|Status|Description|Error|\*\*\*' "$tmp/gnutls" | tr '\n' '|')"
		seen_g=$(sed -n 's/^- Description: //p' "$tmp/gnutls")
		py_cn=$($py -c '
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
with ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10),
                     server_hostname="localhost") as s:
    print(dict(x[0] for x in s.getpeercert()["subject"])["commonName"], s.version())
' "$sport" "$ca" 2>&1)
		case $py_cn in "localhost TLSv1.3") ;; *) fail "$be: f: python ssl (default context) got: '$py_cn', expected the ECDSA 'localhost'" ;; esac
		stop "$be: f: tlsio-https" "$spid" "$tmp/f.err"
	fi
	[ $failures -ne $f0 ] ||
		echo "  $be: f: RSA-only s_client '$seen_f'; gnutls-cli '$seen_g' CN=localhost rsa; python ssl '$py_cn'"

	# g. the SNI map
	f0=$failures
	https g --sni "*.example.test=$certs/other-server.pem:$certs/other-server.key" \
		--sni "exact.example.test=$certs/rsa-server.pem:$certs/rsa-server.key" \
		--sni "localhost=$certs/other-server.pem:$certs/other-server.key"
	if [ -n "$sport" ]; then
		sc "$sport" -servername a.example.test
		sc_has "g: SNI a.example.test (wildcard)" '^issuer=CN = libtlsio untrusted CA$'
		seen_g="$sc"
		sc "$sport" -servername A.Example.TEST
		sc_has "g: SNI A.Example.TEST (wildcard, case ignored)" '^issuer=CN = libtlsio untrusted CA$'
		sc "$sport" -servername exact.example.test
		sc_has "g: SNI exact.example.test (exact beats the wildcard)" '^subject=CN = localhost rsa$'
		sc "$sport" -servername example.test
		sc_has "g: SNI example.test (the bare domain: default)" '^issuer=CN = libtlsio test CA$'
		sc "$sport" -servername a.b.example.test
		sc_has "g: SNI a.b.example.test (two labels: default)" '^issuer=CN = libtlsio test CA$'
		sc "$sport" -noservername
		sc_has "g: no SNI (default)" '^issuer=CN = libtlsio test CA$'
		sc_has "g: no SNI (default)" '^subject=CN = localhost$'
		code=$(curl -s -o /dev/null -w '%{http_code}' --resolve "localhost:$sport:127.0.0.1" \
			--cacert "$certs/other-ca.pem" "https://localhost:$sport/" 2>&1)
		[ "$code" = 200 ] || fail "$be: g: curl https://localhost (exact entry) verifying with other-ca.pem: '$code' (exit $?)"
		curl -s -o /dev/null --resolve "localhost:$sport:127.0.0.1" --cacert "$ca" "https://localhost:$sport/"
		rc=$?
		[ $rc -eq 60 ] || fail "$be: g: curl https://localhost verifying with ca.pem: exit $rc, expected 60 (not the default certificate)"
		code=$(curl -s -o /dev/null -w '%{http_code}' --resolve "example.test:$sport:127.0.0.1" \
			--cacert "$ca" "https://example.test:$sport/" 2>&1)
		[ "$code" = 200 ] || fail "$be: g: curl https://example.test (default) verifying with ca.pem: '$code'"
		stop "$be: g: tlsio-https" "$spid" "$tmp/g.err"
	fi
	[ $failures -ne $f0 ] ||
		echo "  $be: g: a.example.test: '$seen_g'; exact entry and case ignored; bare domain, two labels, no SNI: default; curl verifies each with its CA"

	# h. ALPN, strict
	f0=$failures
	https h --alpn http/1.1
	if [ -n "$sport" ]; then
		for v in 1.3 1.2; do
			sc "$sport" "-tls1_${v#1.}" -alpn h2
			sc_has "h: TLS $v, ALPN h2 only" 'alert no application protocol'
			sc_has "h: TLS $v, ALPN h2 only" 'SSL alert number 120'
			! grep -q '^HTTP/1.1 200' "$tmp/sc" || fail "$be: h: TLS $v: served although ALPN h2 only: $sc"
			seen_h="$sc"
			sc "$sport" "-tls1_${v#1.}" -alpn h2,http/1.1
			sc_has "h: TLS $v, ALPN h2,http/1.1" '^ALPN protocol: http/1.1'
			sc_has "h: TLS $v, ALPN h2,http/1.1" '^HTTP/1.1 200'
		done
		sc "$sport"
		sc_has "h: no ALPN offered" '^No ALPN negotiated'
		sc_has "h: no ALPN offered" '^HTTP/1.1 200'
		out=$(curl -s -o /dev/null -w '%{http_code} %{http_version}' --resolve "localhost:$sport:127.0.0.1" \
			--cacert "$ca" "https://localhost:$sport/" 2>&1)
		[ "$out" = "200 1.1" ] || fail "$be: h: curl (offering h2,http/1.1): '$out', expected '200 1.1'"
		stop "$be: h: tlsio-https" "$spid" "$tmp/h.err"
	fi
	[ $failures -ne $f0 ] ||
		echo "  $be: h: s_client -alpn h2: '$seen_h'; http/1.1 negotiated; curl '$out'"

	# i. an encrypted key
	f0=$failures
	https i --cert "$cert" --key "$certs/server-enc.key" --passphrase-file "$tmp/pass"
	if [ -n "$sport" ]; then
		out=$(curl -s -o /dev/null -w '%{http_code}' --resolve "localhost:$sport:127.0.0.1" \
			--cacert "$ca" "https://localhost:$sport/" 2>&1)
		[ "$out" = 200 ] || fail "$be: i: curl to the server with the encrypted key: '$out'"
		stop "$be: i: tlsio-https" "$spid" "$tmp/i.err"
	fi
	for bad in wrong-pass none; do
		if [ $bad = none ]; then set --; else set -- --passphrase-file "$tmp/$bad"; fi
		timeout 10 "$bin/tlsio-https" --backend "$be" --listen 127.0.0.1:0 --cert "$cert" \
			--key "$certs/server-enc.key" "$@" >"$tmp/i.out" 2>"$tmp/i.err"
		rc=$?
		if [ $rc -ne 1 ] || ! grep -q "server-enc.key" "$tmp/i.err" || grep -q '^listening' "$tmp/i.out"; then
			fail "$be: i: encrypted key, passphrase $bad: exit $rc (expected 1 before listening), $(cat "$tmp/i.out" "$tmp/i.err" | tail -2)"
		fi
		[ $bad = none ] || seen_i=$(grep "server-enc.key" "$tmp/i.err" | head -1)
	done
	[ $failures -ne $f0 ] || echo "  $be: i: the right passphrase serves; a wrong one: '$seen_i'"

	echo "  $be: $(($(date +%s) - t0)) s"
	[ $failures -ne $before ] ||
		echo "ok: $be: resumption both ways, shared and rotated ticket keys, reload under load, RSA+ECDSA, SNI map, ALPN, encrypted key"
done
[ $failures -eq 0 ] || exit 1
exit 0
