#!/bin/sh
# SPDX-License-Identifier: MIT
# SSLKEYLOGFILE, proven by a decryption nobody else could do: on every usable backend, TLS 1.2
# and 1.3, tlsio-https runs with SSLKEYLOGFILE set while tshark captures its loopback port and
# curl GETs /marker-RANDOM; and the client side: tlsio-get with SSLKEYLOGFILE GETs another
# marker from openssl s_server -www (which logs nothing). Nothing else in the test has
# SSLKEYLOGFILE (curl would write its own). Then:
#  - tshark given the key logs finds each marker in the decrypted HTTP request on its port;
#  - each key log holds the lines of its version only (TLS 1.2: CLIENT_RANDOM; TLS 1.3: the
#    CLIENT/SERVER_HANDSHAKE_TRAFFIC_SECRET and CLIENT/SERVER_TRAFFIC_SECRET_0 lines), keyed
#    by the ClientHello random that tshark read from that port's connection, and no other key
#    log has that random: so the secrets that opened a connection are its tool's;
#  - tshark given no key log reads no HTTP request at all, and no marker is in the raw capture:
#    it is the decryption that finds them, not a plaintext leak;
#  - the tool said on stderr that it writes secrets, and where.
# Skips (77): tshark, openssl or curl missing; capturing on lo not permitted (root or
# cap_net_raw); a wolfSSL that cannot log keys (the tool says "SSLKEYLOGFILE ignored: ...",
# as on the Debian-wolfSSL build). The tuned build must log them: that is a failure.
. "$(dirname "$0")/lib.sh"
missing=
for t in tshark openssl curl; do
	command -v "$t" >/dev/null 2>&1 || missing="$missing $t"
done
[ -z "$missing" ] ||
	{ echo "SKIP keylog: not installed:$missing (apt-get install tshark openssl curl)"; exit 77; }
unset SSLKEYLOGFILE
tlsio_test_init keylog tlsio-https tlsio-get
cert=$certs/server.pem key=$certs/server.key ca=$certs/ca.pem

# Per backend, four exchanges under one capture (tshark takes over a second to start): curl
# against tlsio-https --tls-max 1.2 and --tls-min 1.3, and tlsio-get against openssl s_server
# -tls1_2 and -tls1_3, each on its own port and with its own key log, keys.PORT.
pids= # killed at exit by tlsio_test_cleanup (tests/lib.sh)

# capture_start FILTER: tshark on lo into $tmp/cap.pcapng, once it says it captures. Exits 77
# if capturing is not permitted here.
capture_start() {
	rm -f "$tmp/cap.pcapng"
	: >"$tmp/cap.err"
	tshark -i lo -f "$1" -w "$tmp/cap.pcapng" >/dev/null 2>"$tmp/cap.err" &
	cap_pid=$!
	pids="$pids $cap_pid"
	i=0
	while ! grep -q 'Capture started' "$tmp/cap.err" && kill -0 $cap_pid 2>/dev/null && [ $i -lt 200 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	grep -q 'Capture started' "$tmp/cap.err" && return 0
	why=$(grep -v 'Running as user' "$tmp/cap.err" | head -3)
	case $why in
	*ermission* | *"not permitted"* | *privilege* | *"Couldn't run"*)
		echo "SKIP keylog: cannot capture on lo here (needs root or cap_net_raw): $why"
		exit 77
		;;
	esac
	echo "FAIL: tshark did not start capturing on lo within 10 s: $why"
	exit 1
}

# capture_stop: SIGINT, so that tshark writes out what it has; the packets of the exchanges
# that just ended are given a moment to pass through dumpcap first.
capture_stop() {
	sleep 0.3
	kill -INT $cap_pid 2>/dev/null
	wait $cap_pid 2>/dev/null
}

# decrypt KEYLOG: one pass over the capture with that key log, every port decoded as TLS:
# "PORT RANDOM" of each ClientHello into $tmp/randoms, "PORT URI" of each HTTP request
# tshark could read into $tmp/uris (PORT: the server's).
decrypt() {
	tshark -r "$tmp/cap.pcapng" -o "tls.keylog_file:$1" $decode \
		-Y 'tls.handshake.type == 1 || http.request' -T fields -e tcp.dstport \
		-e tls.handshake.random -e http.request.uri >"$tmp/fields" 2>"$tmp/tshark.err" ||
		fail "$be: tshark -r: $(grep -v 'Running as user' "$tmp/tshark.err")"
	awk -F'\t' '$2 != "" { gsub(":", "", $2); print $1, $2 }' "$tmp/fields" >"$tmp/randoms"
	awk -F'\t' '$3 != "" { print $1, $3 }' "$tmp/fields" >"$tmp/uris"
}

# check_capture WHAT PORT MARKER VERSION: decrypted with every key log of the run, the
# capture shows GET /MARKER on that port; and that port's key log, $tmp/keys.PORT, holds the
# lines of VERSION (only) for the ClientHello random of that port's connection, which no other
# key log has: so it is this key log that decrypted it.
check_capture() {
	what=$1 port=$2 marker=$3 ver=$4 keys=$tmp/keys.$2
	got_labels=
	[ -s "$keys" ] || { fail "$what: key log $keys empty or missing"; return; }
	grep -q "^$port /$marker\$" "$tmp/uris" ||
		fail "$what: decrypted with the key logs, the capture ($(grep -c "^$port " "$tmp/randoms") ClientHello on port $port) shows no /$marker; tshark read: '$(tr '\n' ' ' <"$tmp/uris")'; key log: $(cut -c1-40 "$keys" | tr '\n' ' ')"
	rnd=$(sed -n "s/^$port //p" "$tmp/randoms")
	[ ${#rnd} -eq 64 ] || { fail "$what: not one ClientHello random on port $port in the capture: '$rnd'"; return; }
	if [ "$ver" = 1.2 ]; then
		want=CLIENT_RANDOM
		other=$(grep -c -v '^CLIENT_RANDOM ' "$keys")
	else
		want="CLIENT_HANDSHAKE_TRAFFIC_SECRET SERVER_HANDSHAKE_TRAFFIC_SECRET CLIENT_TRAFFIC_SECRET_0 SERVER_TRAFFIC_SECRET_0"
		other=$(grep -c '^CLIENT_RANDOM ' "$keys")
	fi
	[ "$other" -eq 0 ] || fail "$what: lines not of TLS $ver in the key log: $(cut -c1-40 "$keys" | tr '\n' ' ')"
	for label in $want; do
		grep -qi "^$label $rnd [0-9a-f]\{64,\}\$" "$keys" ||
			fail "$what: no '$label <ClientHello random $rnd> <secret>' line in the key log: $(cut -c1-100 "$keys" | tr '\n' ' ')"
	done
	for k in "$tmp"/keys.[0-9]*; do
		[ "$k" = "$keys" ] || ! grep -qi " $rnd " "$k" || fail "$what: port $port's random is in $k too"
	done
	got_labels=$(cut -d' ' -f1 "$keys" | sort -u | tr '\n' ' ')
}

# check_blind MARKERS: without a key log tshark reads no HTTP request at all, and no marker
# is in the raw bytes of the capture.
check_blind() {
	decrypt /dev/null
	[ ! -s "$tmp/uris" ] || fail "$be: HTTP readable without a key log: $(tr '\n' ' ' <"$tmp/uris")"
	for m in "$@"; do
		grep -q "$m" "$tmp/cap.pcapng" && fail "$be: $m is in the raw capture (plaintext)"
	done
}

# start_tool_server BACKEND VERSION: tlsio-https with SSLKEYLOGFILE=$tmp/keys.PORT... which
# needs the port before it starts: the key log goes to $tmp/keys.new and is renamed (the tool
# opened it, the name does not matter to it). Sets port ("" if it did not start) and spid.
# Returns 1 if this wolfSSL cannot log this version's keys (not the tuned one).
start_tool_server() {
	rm -f "$tmp/keys.new"
	: >"$tmp/https.$2.out"
	SSLKEYLOGFILE=$tmp/keys.new "$bin/tlsio-https" --backend "$1" --cert "$cert" --key "$key" \
		--listen 127.0.0.1:0 --tls-min "$2" --tls-max "$2" >"$tmp/https.$2.out" 2>"$tmp/https.$2.err" &
	spid=$!
	pids="$pids $spid"
	wait_for "$tmp/https.$2.out" '^listening on'
	port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$tmp/https.$2.out")
	crypto=$(sed -n 's/.*crypto: //p' "$tmp/https.$2.err" | head -1)
	check_warning tlsio-https "$tmp/https.$2.err" "$tmp/keys.new" "$2"
	kw=$?
	[ -z "$port" ] || mv "$tmp/keys.new" "$tmp/keys.$port" 2>/dev/null
	return $kw
}

# check_warning TOOL STDERR KEYLOG VERSION: the tool said that it writes secrets to KEYLOG. If
# it said it cannot: with the tuned wolfSSL a failure ($crypto is the server's startup line
# naming the build); with another (Debian's has no TLS 1.3 secret callback) that version is
# noted in $unavailable, for the skip at the end, and 1 is returned.
unavailable=
check_warning() {
	if grep -q 'SSLKEYLOGFILE ignored' "$2"; then
		why=$(sed -n 's/.*SSLKEYLOGFILE ignored: //p' "$2" | head -1)
		case $crypto in *"tuned build"*)
			echo "FAIL: $1: the tuned wolfSSL build cannot log keys: $why ($crypto)"
			exit 1
			;;
		esac
		case $unavailable in
		*"$1, TLS $4:"*) ;;
		*) unavailable="${unavailable:+$unavailable; }$1, TLS $4: $why" ;;
		esac
		return 1
	fi
	grep -q "warning: SSLKEYLOGFILE is set: TLS secrets go to '$3'" "$2" ||
		fail "$1: no SSLKEYLOGFILE warning on stderr: $(cat "$2")"
}

# stop_pid WHAT PID ERRFILE: SIGTERM, which must end it with status 0 within 10 s.
stop_pid() {
	kill -TERM "$2" 2>/dev/null
	i=0
	while kill -0 "$2" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
	kill -0 "$2" 2>/dev/null && { fail "$1: still running 10 s after SIGTERM"; kill -9 "$2"; }
	wait "$2"
	rc=$?
	[ $rc -eq 0 ] || fail "$1: exit status $rc after SIGTERM: $(cat "$3")"
}

marker() {
	echo "marker-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
}

list=$("$bin/tlsio-https" --list-backends) || { echo "FAIL: tlsio-https --list-backends"; exit 1; }
usable=$(echo "$list" | awk 'NF == 1 { print $1 }')
[ -n "$usable" ] || { echo "SKIP keylog: no usable backend"; exit 77; }
for be in $usable; do
	before=$failures
	pids=
	filter= ports= markers= servers= peers= todo= checked=
	for v in 1.2 1.3; do
		start_tool_server "$be" "$v"
		kw=$?
		if [ -z "$port" ]; then
			fail "$be: TLS $v: tlsio-https did not start: $(cat "$tmp/https.$v.err")"
			continue
		fi
		servers="$servers $v:$spid"
		[ $kw -eq 0 ] || continue # this wolfSSL cannot log this version: noted, not checked
		todo="$todo server:$v:$port"
		: >"$tmp/peer.$v.out"
		openssl s_server -www -accept 127.0.0.1:0 -cert "$cert" -key "$key" "-tls1_${v#1.}" \
			>"$tmp/peer.$v.out" 2>&1 &
		pids="$pids $!"
		peers="$peers $!"
		wait_for "$tmp/peer.$v.out" '^ACCEPT'
		pport=$(sed -n 's/^ACCEPT .*:\([0-9]*\)$/\1/p' "$tmp/peer.$v.out")
		[ -n "$pport" ] || { fail "$be: TLS $v: openssl s_server did not start: $(cat "$tmp/peer.$v.out")"; continue; }
		todo="$todo client:$v:$pport"
	done
	for t in $todo; do
		p=${t##*:}
		ports="$ports $p"
		filter="$filter${filter:+ or }tcp port $p"
	done
	[ -n "$todo" ] || continue
	capture_start "$filter"
	for t in $todo; do
		side=${t%%:*} v=${t#*:} p=${t##*:}
		v=${v%:*}
		m=$(marker)
		markers="$markers $m"
		eval "marker_$p=$m"
		if [ "$side" = server ]; then
			# the server's key log: curl as the client (without SSLKEYLOGFILE: unset above)
			code=$(curl -s --http1.1 --resolve "localhost:$p:127.0.0.1" --cacert "$ca" -o /dev/null \
				-w '%{http_code}' "https://localhost:$p/$m" 2>&1)
			[ "$code" = 200 ] || fail "$be: TLS $v: curl GET /$m from tlsio-https: '$code'"
		else
			# the client's key log: tlsio-get against openssl s_server -www (which logs none)
			SSLKEYLOGFILE=$tmp/keys.$p "$bin/tlsio-get" --backend "$be" --connect "127.0.0.1:$p" \
				--ca "$ca" --server-name localhost --path "/$m" --tls-max "$v" \
				>"$tmp/get.out" 2>"$tmp/get.err" ||
				fail "$be: TLS $v: tlsio-get against openssl s_server: $(cat "$tmp/get.out" "$tmp/get.err")"
			check_warning tlsio-get "$tmp/get.err" "$tmp/keys.$p" "$v" || eval "skip_$p=1"
		fi
	done
	capture_stop
	for s in $servers; do
		stop_pid "$be: TLS ${s%%:*}: tlsio-https" "${s#*:}" "$tmp/https.${s%%:*}.err"
	done
	for p in $peers; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	pids=
	decode=$(for p in $ports; do printf ' -d tcp.port==%s,tls' "$p"; done)
	cat "$tmp"/keys.[0-9]* >"$tmp/keys.all" 2>/dev/null
	decrypt "$tmp/keys.all"
	for t in $todo; do
		side=${t%%:*} v=${t#*:} p=${t##*:}
		v=${v%:*}
		eval "m=\$marker_$p sk=\${skip_$p:-}"
		[ -z "$sk" ] || continue
		checked="$checked $side:$v"
		f0=$failures
		check_capture "$be: TLS $v: $side key log" "$p" "$m" "$v"
		[ $failures -ne $f0 ] ||
			echo "  $be: TLS $v: the $side's key log ($got_labels) decrypts GET /$m"
	done
	check_blind $markers
	rm -f "$tmp"/keys.*
	[ $failures -ne $before ] ||
		echo "ok: $be: SSLKEYLOGFILE of tlsio-https and tlsio-get decrypts in tshark ($checked ), and nothing else does"
done
[ $failures -eq 0 ] || exit 1
if [ -n "$unavailable" ]; then
	echo "SKIP keylog: not available in this wolfSSL ($crypto): $unavailable; what it can log was decrypted (above)"
	exit 77
fi
exit 0
