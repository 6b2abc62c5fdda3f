/* SPDX-License-Identifier: MIT */
/* WebSocket (RFC 6455) pieces shared by tlsio-ws and bench/ws-load: frame headers, masking, the
 * handshake's accept key, incremental UTF-8 validation. Nothing here does I/O or allocates. */
#ifndef TLSX_WS_H
#define TLSX_WS_H

#include <stddef.h>
#include <stdint.h>

/* Opcodes (RFC 6455 section 5.2). */
enum {
	WS_OP_CONT = 0x0,
	WS_OP_TEXT = 0x1,
	WS_OP_BINARY = 0x2,
	WS_OP_CLOSE = 0x8,
	WS_OP_PING = 0x9,
	WS_OP_PONG = 0xA
};

/* Close codes (section 7.4.1). */
enum {
	WS_CLOSE_NORMAL = 1000,
	WS_CLOSE_GOING_AWAY = 1001,
	WS_CLOSE_PROTOCOL = 1002,
	WS_CLOSE_UNSUPPORTED = 1003,
	WS_CLOSE_NO_STATUS = 1005, /* never on the wire */
	WS_CLOSE_ABNORMAL = 1006,  /* never on the wire */
	WS_CLOSE_INVALID_DATA = 1007,
	WS_CLOSE_POLICY = 1008,
	WS_CLOSE_TOO_BIG = 1009,
	WS_CLOSE_EXTENSION = 1010,
	WS_CLOSE_INTERNAL = 1011
};

/* The longest frame header: 2 bytes, an 8-byte length, a 4-byte mask. */
#define WS_MAX_HEADER 14
/* The longest control frame payload (section 5.5). */
#define WS_MAX_CONTROL 125
/* Sec-WebSocket-Accept: base64 of a SHA-1, 28 characters and a NUL. */
#define WS_ACCEPT_LEN 29

typedef struct ws_header {
	int fin;
	int rsv;        /* RSV1..3 as bits 2..0 (RSV1 = 4: permessage-deflate's "compressed") */
	int opcode;
	int masked;
	uint8_t mask[4];
	uint64_t len;   /* payload length */
	size_t hdr_len; /* bytes of header */
} ws_header;

/**
 * Parse a frame header from the first @p n bytes at @p p.
 * @return the header's length (2 to 14) once it is whole, 0 if more bytes are needed, -1 if it
 *         is not a valid header: a 64-bit length with its top bit set, or a length in a longer
 *         form than it needs (both a protocol error, close code 1002).
 */
int ws_parse_header(const uint8_t *p, size_t n, ws_header *h);

/** Write a frame header for a payload of @p len bytes; @p mask NULL for an unmasked (server)
 * frame. @return its length (2 to 14). */
size_t ws_put_header(uint8_t out[WS_MAX_HEADER], int fin, int rsv1, int opcode, uint64_t len,
                     const uint8_t *mask);

/** XOR @p n bytes at @p p with @p mask, the first of them being byte @p off of the payload. */
void ws_mask(uint8_t *p, size_t n, const uint8_t mask[4], uint64_t off);

/** The Sec-WebSocket-Accept value for the client's Sec-WebSocket-Key (@p key, @p len bytes, as
 * sent): base64(SHA-1(key "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")), NUL-terminated. */
void ws_accept_key(const char *key, size_t len, char out[WS_ACCEPT_LEN]);

/** Base64 (RFC 4648, padded) of @p n bytes into @p out (4 * ((n + 2) / 3) + 1 bytes). */
void ws_base64(const uint8_t *in, size_t n, char *out);

/** Incremental UTF-8 validation (RFC 3629: no overlongs, surrogates or code points above
 * U+10FFFF), fed in pieces split anywhere. Start from {0}. */
typedef struct ws_utf8 {
	uint32_t state;
} ws_utf8;
/** @return 0 if the bytes so far may still be valid UTF-8, -1 once they cannot be (stays -1). */
int ws_utf8_feed(ws_utf8 *u, const uint8_t *p, size_t n);
/** 1 if the bytes fed so far end at a character boundary (a whole valid text), else 0. */
int ws_utf8_complete(const ws_utf8 *u);

/** 1 if @p code may be sent in a close frame (section 7.4 and IANA's registry: 1000-1003, 1007-1014,
 * 3000-4999). */
int ws_close_code_ok(unsigned code);

#endif
