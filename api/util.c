/* SPDX-License-Identifier: MIT */
/* Status strings, alert names, time. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "core.h"
#include "backend.h"

const char *tlsio_strerror(int status)
{
	switch (status) {
	case 0: return "success";
	case TLSIO_E_TLS: return "TLS protocol error";
	case TLSIO_E_REFUSED: return "client refused after its ClientHello";
	case TLSIO_E_ALERT_RECEIVED: return "the peer sent a fatal TLS alert";
	case TLSIO_E_TRUNCATED: return "connection closed without close_notify (truncated)";
	case TLSIO_E_CERT_VERIFY: return "peer certificate verification failed";
	case TLSIO_E_QUEUE_FULL: return "send queue above high water";
	case TLSIO_E_CLOSED: return "connection is closing or closed";
	case TLSIO_E_ABORTED: return "connection aborted";
	case TLSIO_E_NO_BACKEND: return "no such backend";
	case TLSIO_E_BACKEND_UNAVAILABLE: return "backend unavailable on this system";
	case TLSIO_E_TLS_CONFIG: return "invalid TLS configuration";
	case TLSIO_E_HANDSHAKE_TIMEOUT: return "TLS handshake timed out";
	case TLSIO_E_IDLE_TIMEOUT: return "connection idle timeout";
	case TLSIO_E_LINGER_TIMEOUT: return "close did not complete before the linger deadline";
	case TLSIO_E_VERSION: return "no TLS protocol version in common";
	case TLSIO_E_BAD_ADDRESS:
		return "bad address (want IP:PORT, [IPv6]:PORT, HOST:PORT, unix:PATH, unix:@NAME or fd:N)";
	case TLSIO_E_RESOLVE: return "the host name could not be resolved";
	case TLSIO_E_CONNECT_TIMEOUT: return "connect timed out";
	case TLSIO_E_EOF_IN_HANDSHAKE: return "peer closed the connection during the handshake";
	case TLSIO_E_NO_IDENTITY:
		return "no server name to verify the certificate against (set server_name, or TLSIO_VERIFY_NONE)";
	default:
		if (status < 0 && status > -4096)
			return strerror(-status);
		return "unknown status";
	}
}

const char *tlsio_alert_name(int alert)
{
	switch (alert) {
	case TLSIO_ALERT_NONE: return "none";
	case 0: return "close_notify";
	case 10: return "unexpected_message";
	case 20: return "bad_record_mac";
	case 22: return "record_overflow";
	case 40: return "handshake_failure";
	case 42: return "bad_certificate";
	case 43: return "unsupported_certificate";
	case 44: return "certificate_revoked";
	case 45: return "certificate_expired";
	case 46: return "certificate_unknown";
	case 47: return "illegal_parameter";
	case 48: return "unknown_ca";
	case 49: return "access_denied";
	case 50: return "decode_error";
	case 51: return "decrypt_error";
	case 70: return "protocol_version";
	case 71: return "insufficient_security";
	case 80: return "internal_error";
	case 86: return "inappropriate_fallback";
	case 90: return "user_canceled";
	case 100: return "no_renegotiation";
	case 109: return "missing_extension";
	case 110: return "unsupported_extension";
	case 112: return "unrecognized_name";
	case 113: return "bad_certificate_status_response";
	case 115: return "unknown_psk_identity";
	case 116: return "certificate_required";
	case 120: return "no_application_protocol";
	default: return "unknown";
	}
}

const char *tlsio_cert_error_name(int err)
{
	switch (err) {
	case TLSIO_CERT_OK: return "ok";
	case TLSIO_CERT_NAME_MISMATCH: return "name mismatch";
	case TLSIO_CERT_EXPIRED: return "expired";
	case TLSIO_CERT_NOT_YET_VALID: return "not yet valid";
	case TLSIO_CERT_UNKNOWN_CA: return "unknown CA";
	case TLSIO_CERT_BAD_SIGNATURE: return "bad signature";
	case TLSIO_CERT_SELF_SIGNED: return "self-signed";
	case TLSIO_CERT_CHAIN_TOO_LONG: return "chain too long";
	case TLSIO_CERT_MISSING: return "no certificate";
	case TLSIO_CERT_MALFORMED: return "malformed certificate";
	case TLSIO_CERT_OTHER: return "verification failed";
	default: return "unknown";
	}
}

unsigned tlsio_version(const char **str)
{
	if (str != NULL)
		*str = TLSIO_VERSION_STRING;
	return TLSIO_VERSION_NUMBER;
}

uint64_t tlsio__now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
