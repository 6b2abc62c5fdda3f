#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Alerts and closes (C5, C6) against TLS peers this project did not write.

For every backend the examples list: tlsio-echo faces openssl s_client, gnutls-cli, python's ssl
module and raw sockets; tlsio-client faces openssl s_server and a python ssl echo server. Each
failure case checks that the *peer* saw the alert (its own words: "SSL alert number 70",
"Received alert [70]", TLSV1_ALERT_PROTOCOL_VERSION, the raw alert record) and what the library
reported for the connection. Success cases run TLS 1.2 and 1.3 handshakes and an echo.

Usage: real-peers.py BUILDDIR CERTDIR [BACKEND...]   (exit 0 all passed, 1 a failure)
"""
import os
import re
import select
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time

ALERTS = {"decode_error": 50, "record_overflow": 22, "protocol_version": 70,
          "handshake_failure": 40, "unrecognized_name": 112, "unknown_ca": 48,
          "bad_certificate": 42}

BUILD, CERTS = sys.argv[1], sys.argv[2]
ECHO = os.path.join(BUILD, "examples", "tlsio-echo")
CLIENT = os.path.join(BUILD, "examples", "tlsio-client")
CA, OTHER_CA = os.path.join(CERTS, "ca.pem"), os.path.join(CERTS, "other-ca.pem")
SRV_CERT, SRV_KEY = os.path.join(CERTS, "server.pem"), os.path.join(CERTS, "server.key")
OTHER_CERT, OTHER_KEY = os.path.join(CERTS, "other-server.pem"), os.path.join(CERTS, "other-server.key")

results = []  # (backend, case, peer, what the peer reported, what the library reported, ok)


SANITIZER = re.compile(r"ERROR: \w+Sanitizer|runtime error:")


def record(backend, case, peer, peer_saw, lib_saw, ok, detail=""):
    if SANITIZER.search(detail or ""):
        ok, lib_saw = False, "sanitizer report (see below)"
    results.append((backend, case, peer, peer_saw, lib_saw, ok))
    mark = "ok  " if ok else "FAIL"
    print(f"{mark} [{backend}] {case:<22} {peer:<12} peer: {peer_saw:<34} library: {lib_saw}"
          + (f"\n      {detail}" if detail and not ok else ""), flush=True)


class Echo:
    """tlsio-echo on one backend; its stderr tells how each connection ended."""

    def __init__(self, backend, *args):
        self.p = subprocess.Popen([ECHO, "--backend", backend, "--cert", SRV_CERT, "--key", SRV_KEY,
                                   "--listen", "127.0.0.1:0", *args],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.p.stdout.readline()
        m = re.match(r"listening on 127\.0\.0\.1:(\d+)", line)
        if not m:
            self.p.kill()
            raise RuntimeError(f"tlsio-echo did not start: {line!r} {self.p.stderr.read()}")
        self.port = int(m.group(1))
        self.addr = f"127.0.0.1:{self.port}"

    def stop(self):
        """SIGTERM (graceful), then its stderr."""
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        try:
            _, err = self.p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            _, err = self.p.communicate()
        if self.p.returncode != 0:  # a graceful stop exits 0; anything else is reported
            err += f"\nruntime error: tlsio-echo exited with {self.p.returncode}\n"
        return err


def closed_line(err):
    """The library's account of the first connection: '<status text> (status N, alert NAME/C)'."""
    m = re.search(r"connection \d+ closed: (.*)", err)
    return m.group(1) if m else "clean close"


def lib_alert(err):
    m = re.search(r"alert ([a-z_]+)/(\d+)", err)
    return m.group(1) if m else "none"


def run_peer(argv, send=b"", wait_for=None, timeout=10):
    """Run a command-line peer; feed it @send; stop once @wait_for shows up or it exits."""
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    out = b""
    try:
        if send:
            p.stdin.write(send)
            p.stdin.flush()
        end = time.time() + timeout
        while time.time() < end:
            r, _, _ = select.select([p.stdout], [], [], 0.1)
            if r:
                chunk = os.read(p.stdout.fileno(), 65536)
                if not chunk:
                    break
                out += chunk
                if wait_for is not None and wait_for in out:
                    break
            elif p.poll() is not None:
                break
    finally:
        try:
            p.stdin.close()
        except OSError:
            pass
        try:
            p.wait(timeout=3)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        out += p.stdout.read() or b""
        p.stdout.close()
    return out.decode(errors="replace")


def openssl_client(port, *opts, send=b"", wait_for=None):
    return run_peer(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile", CA,
                     "-verify_return_error", "-quiet", "-no_ign_eof", *opts], send, wait_for)


def gnutls_client(port, priority, *opts, send=b"", wait_for=None):
    return run_peer(["gnutls-cli", "--port", str(port), "127.0.0.1", "--x509cafile", CA,
                     "--priority", priority, *opts], send, wait_for)


def py_client(port, maxv=None, minv=None, sni="localhost", ciphers=None):
    """Handshake, echo a line, close_notify. Returns 'ok ...' or the exception text."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(CA)
    if maxv:
        ctx.maximum_version = maxv
    if minv:
        ctx.minimum_version = minv
    if ciphers:
        ctx.set_ciphers(ciphers)
    ctx.check_hostname = sni == "localhost"
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            s = ctx.wrap_socket(raw, server_hostname=sni)
            s.sendall(b"ping from python\n")
            got = b""
            while len(got) < 17:
                chunk = s.recv(100)
                if not chunk:
                    break
                got += chunk
            v = s.version()
            s.unwrap()  # our close_notify, and the server's answer
            echoed = "yes" if got == b"ping from python\n" else repr(got)
            return f"ok {v} echo={echoed}"
    except Exception as e:  # the peer's own error text is the point
        return f"{type(e).__name__}: {e}"


def raw_exchange(port, data, timeout=5):
    """Send raw bytes, return everything the server sends until it closes (or the timeout)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        if data:
            s.sendall(data)
        got, t0 = b"", time.time()
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
        except (socket.timeout, ConnectionResetError):
            pass
        return got, time.time() - t0


def alert_in(text, code):
    """Did a peer's output report the alert with this code?"""
    pats = [rf"alert number {code}\b", rf"Received alert \[{code}\]", rf"fatal {name_of(code)}",
            rf"ALERT_{name_of(code).upper()}", rf"{name_of(code).upper()}\]"]
    return any(re.search(p, text, re.I) for p in pats)


def name_of(code):
    return next(k for k, v in ALERTS.items() if v == code)


def short(text, code=None):
    for pat in (r"SSL alert number \d+", r"Received alert \[\d+\][^\n]*", r"fatal [a-z_]+",
                r"\[SSL: [A-Z0-9_]+\]", r"^ok [^\n]*"):
        m = re.search(pat, text, re.M)
        if m:
            return m.group(0)[:34]
    return (text.strip().splitlines() or ["(nothing)"])[-1][:34]


# ---------------------------------------------------------------------------------------------
# server side: tlsio-echo against real clients

def server_cases(b):
    # success, both versions, every peer
    for ver, oflag, gprio, pyv in (("1.2", "-tls1_2", "NORMAL:-VERS-ALL:+VERS-TLS1.2", ssl.TLSVersion.TLSv1_2),
                                   ("1.3", "-tls1_3", "NORMAL:-VERS-ALL:+VERS-TLS1.3", ssl.TLSVersion.TLSv1_3)):
        e = Echo(b)
        out = openssl_client(e.port, oflag, "-servername", "localhost", send=b"hello openssl\n",
                             wait_for=b"hello openssl\n")
        err = e.stop()
        record(b, f"echo TLS {ver}", "openssl", "echo ok" if "hello openssl" in out else short(out),
               closed_line(err), "hello openssl" in out, out[-300:] + err)
        e = Echo(b)
        out = gnutls_client(e.port, gprio, "--sni-hostname", "localhost", send=b"hello gnutls\n",
                            wait_for=b"hello gnutls\n")
        err = e.stop()
        record(b, f"echo TLS {ver}", "gnutls-cli", "echo ok" if "hello gnutls" in out else short(out),
               closed_line(err), "hello gnutls" in out, out[-300:] + err)
        e = Echo(b)
        out = py_client(e.port, maxv=pyv, minv=pyv)
        err = e.stop()
        ok = out.startswith("ok") and "echo=yes" in out and "closed:" not in err
        record(b, f"echo+close_notify {ver}", "python-ssl", short(out), closed_line(err), ok, out + err)

    # version mismatch: protocol_version
    e = Echo(b, "--tls-min", "1.3")
    outs = [("openssl", openssl_client(e.port, "-tls1_2")),
            ("gnutls-cli", gnutls_client(e.port, "NORMAL:-VERS-ALL:+VERS-TLS1.2")),
            ("python-ssl", py_client(e.port, maxv=ssl.TLSVersion.TLSv1_2))]
    err = e.stop()
    for peer, out in outs:
        record(b, "version 1.2 vs 1.3", peer, short(out), lib_alert(err), alert_in(out, 70) and
               lib_alert(err) == "protocol_version", out[-300:] + err)

    # no cipher in common: handshake_failure
    e = Echo(b, "--tls-min", "1.3", "--ciphers", "TLS13-CHACHA20-POLY1305-SHA256")
    outs = [("openssl", openssl_client(e.port, "-tls1_3", "-ciphersuites", "TLS_AES_128_GCM_SHA256")),
            ("gnutls-cli", gnutls_client(e.port, "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM"))]
    err = e.stop()
    for peer, out in outs:
        record(b, "no shared cipher", peer, short(out), lib_alert(err),
               alert_in(out, 40) and lib_alert(err) == "handshake_failure", out[-300:] + err)
    e = Echo(b, "--tls-max", "1.2", "--ciphers", "ECDHE-ECDSA-CHACHA20-POLY1305")
    out = py_client(e.port, maxv=ssl.TLSVersion.TLSv1_2, ciphers="ECDHE-ECDSA-AES128-GCM-SHA256")
    err = e.stop()
    record(b, "no shared cipher 1.2", "python-ssl", short(out), lib_alert(err),
           alert_in(out, 40) and lib_alert(err) == "handshake_failure", out + err)

    # ClientHello inspection: a known name gets its certificate, an unknown one unrecognized_name
    e = Echo(b, "--sni", f"example.test={OTHER_CERT}:{OTHER_KEY}", "--strict-sni")
    good = run_peer(["openssl", "s_client", "-connect", e.addr, "-CAfile", OTHER_CA,
                     "-verify_return_error", "-quiet", "-servername", "example.test"],
                    b"sni ok\n", b"sni ok\n")
    outs = [("openssl", openssl_client(e.port, "-servername", "bogus.test")),
            ("gnutls-cli", gnutls_client(e.port, "NORMAL", "--sni-hostname", "bogus.test")),
            ("python-ssl", py_client(e.port, sni="bogus.test"))]
    err = e.stop()
    record(b, "SNI picks the cert", "openssl", "echo ok" if "sni ok" in good else short(good),
           "other-server cert verified", "sni ok" in good, good[-300:] + err)
    for peer, out in outs:
        record(b, "unknown SNI refused", peer, short(out), lib_alert(err),
               alert_in(out, 112) and "unrecognized_name/112" in err, out[-300:] + err)

    # garbage instead of a ClientHello, and an oversized record: the exact alert record comes back
    for case, data, code in (("garbage ClientHello", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 50),
                             ("oversized record", b"\x16\x03\x01\x50\x00" + b"\x01" * 64, 22)):
        e = Echo(b)
        got, _ = raw_exchange(e.port, data)
        err = e.stop()
        want = bytes([0x15, 3, 3, 0, 2, 2, code])
        record(b, case, "raw socket", got.hex() or "(nothing)", lib_alert(err),
               got == want and lib_alert(err) == name_of(code), err)

    # handshake timeout: a client that connects and says nothing is cut off in time
    e = Echo(b, "--handshake-timeout", "300")
    got, dt = raw_exchange(e.port, b"", timeout=5)
    err = e.stop()
    record(b, "handshake timeout", "raw socket", f"closed after {dt:.2f} s", closed_line(err)[:40],
           dt < 3 and "handshake timed out" in err, err)

    # idle timeout: a quiet client after the handshake
    e = Echo(b, "--idle-timeout", "300")
    ctx = ssl.create_default_context(cafile=CA)
    t0 = time.time()
    with socket.create_connection(("127.0.0.1", e.port), timeout=5) as raw:
        s = ctx.wrap_socket(raw, server_hostname="localhost")
        try:
            s.recv(10)
        except (OSError, ssl.SSLError):
            pass
        s.close()
    dt = time.time() - t0
    err = e.stop()
    record(b, "idle timeout", "python-ssl", f"closed after {dt:.2f} s", closed_line(err)[:40],
           dt < 3 and "idle timeout" in err, err)

    # truncation: a peer that drops TCP without close_notify
    e = Echo(b)
    with socket.create_connection(("127.0.0.1", e.port), timeout=5) as raw:
        s = ctx.wrap_socket(raw, server_hostname="localhost")
        s.sendall(b"x")
        s.recv(1)
        s.close()  # TCP FIN, no close_notify
    time.sleep(0.3)
    err = e.stop()
    record(b, "EOF without close_notify", "python-ssl", "(closed TCP)", closed_line(err)[:40],
           "truncated" in err, err)


# ---------------------------------------------------------------------------------------------
# client side: tlsio-client against real servers

def free_port():
    """A port for servers that do not report the one they bound (small race, loopback only)."""
    with socket.socket() as tmp:
        tmp.bind(("127.0.0.1", 0))
        return tmp.getsockname()[1]


def wait_line(p, word, timeout=10):
    """Read the server's output until a line containing @word (it is ready then)."""
    end = time.time() + timeout
    while time.time() < end:
        line = p.stdout.readline()
        if not line or word.lower() in line.lower():
            return
    raise RuntimeError(f"server not ready: no '{word}'")


def wait_port(port, timeout=10):
    """Wait until something listens on @port, without connecting (that could be the only
    connection a one-shot server accepts): LISTEN sockets in /proc/net/tcp{,6}."""
    end = time.time() + timeout
    while time.time() < end:
        for f in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                with open(f) as fh:
                    for line in fh.readlines()[1:]:
                        cols = line.split()
                        if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                            return
            except OSError:
                pass
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


def finish(p):
    try:
        out, _ = p.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
    return out or ""


class PyEchoServer(threading.Thread):
    """python ssl echo server for one connection; remembers its own error text."""

    def __init__(self, cert, key, maxv=None):
        super().__init__(daemon=True)
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        if maxv:
            self.ctx.maximum_version = maxv
        self.ls = socket.create_server(("127.0.0.1", 0))
        self.port = self.ls.getsockname()[1]
        self.error, self.version, self.closed_by_notify = "", "", False
        self.start()

    def run(self):
        self.ls.settimeout(20)
        try:
            conn, _ = self.ls.accept()
            s = self.ctx.wrap_socket(conn, server_side=True)
            self.version = s.version()
            while True:
                data = s.recv(65536)
                if not data:
                    self.closed_by_notify = True  # python returns b"" on close_notify
                    break
                s.sendall(data)
            s.unwrap()
        except Exception as e:
            self.error = f"{type(e).__name__}: {e}"
        finally:
            self.ls.close()


def tlsio_client(b, port, *args):
    p = subprocess.run([CLIENT, "--backend", b, "--connect", f"127.0.0.1:{port}", *args],
                       capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr


def client_cases(b):
    for ver, pyv in (("1.2", ssl.TLSVersion.TLSv1_2), ("1.3", ssl.TLSVersion.TLSv1_3)):
        srv = PyEchoServer(SRV_CERT, SRV_KEY, maxv=pyv)
        rc, out = tlsio_client(b, srv.port, "--ca", CA, "--bytes", "4M", "--chunk", "100K")
        srv.join(10)
        ok = rc == 0 and "digest:         ok" in out.replace("OK", "ok") and srv.version == f"TLSv{ver}"
        record(b, f"client echo TLS {ver}", "python-ssl", f"{srv.version} notify={srv.closed_by_notify}",
               "digest ok" if rc == 0 else "FAILED", ok and srv.closed_by_notify, out + srv.error)

    # openssl s_server: handshake at each version, then a close_notify exchange; gnutls-serv --echo
    # (line-based, hence --text): handshake and echo at each version
    for ver in ("1.2", "1.3"):
        port = free_port()
        p = subprocess.Popen(["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", SRV_CERT,
                              "-key", SRV_KEY, "-naccept", "1", "-brief"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        wait_port(port)
        rc, out = tlsio_client(b, port, "--ca", CA, "--bytes", "0", "--tls-min", ver, "--tls-max", ver)
        srv_out = finish(p)
        m = re.search(r"Protocol version: (\S+)", srv_out)
        seen = m.group(1) if m else short(srv_out)
        record(b, f"client handshake {ver}", "openssl-srv", seen, "clean close" if rc == 0 else "FAILED",
               rc == 0 and seen == f"TLSv{ver}" and "close:          success" in out, srv_out + out)
        port = free_port()
        prio = "NORMAL:-VERS-ALL:+VERS-TLS" + ver
        p = subprocess.Popen(["gnutls-serv", "--port", str(port), "--echo", "--x509certfile", SRV_CERT,
                              "--x509keyfile", SRV_KEY, "--priority", prio], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
        wait_port(port)  # gnutls-serv's stdout is block-buffered into a pipe: poll the port
        rc, out = tlsio_client(b, port, "--ca", CA, "--bytes", "1M", "--text")
        p.terminate()  # it prints every echoed line: stdout goes nowhere, or it would stall
        srv_out = finish(p)
        record(b, f"client echo TLS {ver}", "gnutls-serv", f"TLSv{ver} echo", "digest ok" if rc == 0 else
               "FAILED", rc == 0 and f"TLSv{ver}" in out and "digest:         ok" in out, srv_out[-300:] + out)

    # the client rejects the server's certificate: the server must see unknown_ca
    with socket.socket() as tmp:  # s_server does not report the port it bound: pick one
        tmp.bind(("127.0.0.1", 0))
        port = tmp.getsockname()[1]
    p = subprocess.Popen(["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", OTHER_CERT,
                          "-key", OTHER_KEY, "-naccept", "1", "-msg"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in p.stdout:  # stdin stays open: s_server ends on EOF of its stdin
        if line.startswith("ACCEPT"):
            break
    rc, out = tlsio_client(b, port, "--ca", CA, "--bytes", "1K")
    try:
        srv_out, _ = p.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        p.kill()
        srv_out, _ = p.communicate()
    record(b, "client: wrong CA", "openssl-srv", short(srv_out), lib_alert(out),
           rc != 0 and alert_in(srv_out, 48) and lib_alert(out) == "unknown_ca", srv_out[-300:] + out)

    srv = PyEchoServer(OTHER_CERT, OTHER_KEY)
    rc, out = tlsio_client(b, srv.port, "--ca", CA, "--bytes", "1K")
    srv.join(10)
    record(b, "client: wrong CA", "python-ssl", short(srv.error), lib_alert(out),
           rc != 0 and alert_in(srv.error, 48), srv.error + out)

    # the server only speaks 1.2, the client only 1.3: the client reports protocol_version
    srv = PyEchoServer(SRV_CERT, SRV_KEY, maxv=ssl.TLSVersion.TLSv1_2)
    rc, out = tlsio_client(b, srv.port, "--ca", CA, "--tls-min", "1.3", "--bytes", "1K")
    srv.join(10)
    record(b, "client: 1.3 vs 1.2", "python-ssl", short(srv.error), lib_alert(out),
           rc != 0 and lib_alert(out) == "protocol_version", srv.error + out)


def main():
    listed = subprocess.run([ECHO, "--list-backends"], capture_output=True, text=True).stdout
    usable = [l.split()[0] for l in listed.splitlines() if l.strip() and "unusable" not in l]
    for l in listed.splitlines():
        if "unusable" in l:
            print(f"SKIP {l.strip()}", flush=True)
    backends = sys.argv[3:] or usable
    for b in backends:
        server_cases(b)
        client_cases(b)
    failed = [r for r in results if not r[5]]
    print(f"\n{len(results) - len(failed)}/{len(results)} real-peer checks passed on "
          f"{', '.join(backends)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
