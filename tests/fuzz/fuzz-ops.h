/* SPDX-License-Identifier: MIT */
/* The operation codes of the fuzz targets that read their input as a program, shared with the
 * seed generator (seeds.c). Each code is followed by its arguments, as noted; past the end of
 * the input every argument reads as zero. */
#ifndef TLSIO_FUZZ_OPS_H
#define TLSIO_FUZZ_OPS_H

#include <wolfssl/options.h>

/* Variants of fuzz-session.h (version and record protection): the two TLS 1.2 AES-CBC ones only
 * where wolfSSL has CBC suites (not in the tuned build: AES-CBC is compiled in for encrypted
 * keys, but WOLFSSL_AEAD_ONLY keeps it out of TLS). The seeds and the corpus name variants by
 * number, so the numbers differ between the two builds: each has its own FUZZ_DIR
 * (scripts/fuzz.sh). */
#if defined(NO_AES_CBC) || defined(WOLFSSL_AEAD_ONLY)
#define FZ_NVARIANTS 4
#else
#define FZ_NVARIANTS 6
#endif

/* fuzz-record: the first byte is the mode (bit 0: the server is the side under test; the rest
 * picks the variant, modulo FZ_NVARIANTS). */
enum fz_record_op {
	FR_PEER_WRITE,   /* u16 size (fz_record_size), u8 n, n bytes: a record, n bytes of it from
	                    the input, the rest from a pattern */
	FR_PEER_RAW,     /* u8 len, then that many bytes, appended as they are */
	FR_PEER_RECORD,  /* u8 type, u16 version, u16 length, u8 n, n bytes of payload (the rest
	                    of the length from a pattern) */
	FR_FLIP,         /* u16 offset, u8 mask: flip bits of an undelivered byte */
	FR_CUT,          /* u16 offset, u8 n: drop n + 1 undelivered bytes */
	FR_REPLAY,       /* append the peer's last record again */
	FR_DELIVER,      /* u16 n: deliver n bytes to the victim, then it reads */
	FR_DELIVER_SPLIT,/* u8 n: deliver everything in pieces of n + 1 bytes, reading after each */
	FR_PEER_CLOSE,   /* the peer sends close_notify */
	FR_PEER_POST_HS, /* u8 what: KeyUpdate, NewSessionTicket, CertificateRequest, renegotiation */
	FR_VICTIM_WRITE, /* u16 size, u8 n, n bytes: the victim writes (as FR_PEER_WRITE), the peer
	                    reads it */
	FR_VICTIM_CLOSE, /* the victim sends close_notify */
	FR_VICTIM_READ,  /* u8 cap: the victim reads with a small buffer */
	FR_VICTIM_EOF,   /* the victim's input ends */
	FR_COUNT
};

/* fuzz-core: the first byte is the mode (bit 0: the victim is the server; bit 1: the backend
 * answers conn_close at its next run; bit 2: on_client_hello is set; bit 3: on_peer_close is
 * set; bits 4-7: the variant, modulo FZ_NVARIANTS). Sizes of sends: u16 v: (v & 0x3ff) * 320
 * bytes if its top six bits are set, else (v & 0x1fff) * 4 if its top three are, else v & 0x3ff.
 * After each operation the loop runs once (unless batched). */
enum fz_core_op {
	FC_SEND,         /* u16 size: tlsio_send (copied) */
	FC_SEND_REF,     /* u16 size: tlsio_send_ref, buffer freed in the completion */
	FC_SEND_COPY_CB, /* u16 size: tlsio_send_ex copied with a completion, buffer freed at once */
	FC_KERNEL,       /* u16 n (0xffff: all): the kernel takes n ciphertext bytes */
	FC_PEER_STEP,    /* the peer reads what the kernel took, answers the handshake */
	FC_PEER_WRITE,   /* u16 size, u8 n, n bytes: the peer writes a record (as FR_PEER_WRITE) */
	FC_DELIVER,      /* u16 v: v & 0x7fff bytes (0x7fff: all) reach the victim; bit 15: even
	                    while reading is stopped (a receive in flight) */
	FC_TAMPER,       /* u8 kind (raw, record, flip, cut, replay), then as in fuzz-record */
	FC_PEER_CLOSE,   /* the peer sends close_notify */
	FC_PEER_POST_HS, /* u8 what: odd KeyUpdate, even NewSessionTicket */
	FC_EOF,          /* the victim's socket reads EOF */
	FC_ERROR,        /* u8: the victim's socket fails (ECONNRESET or EPIPE) */
	FC_CLOSE,        /* tlsio_close */
	FC_SHUTDOWN,     /* tlsio_shutdown */
	FC_ABORT,        /* tlsio_abort */
	FC_READ_STOP,    /* tlsio_read_stop */
	FC_READ_START,   /* tlsio_read_start */
	FC_WATERMARKS,   /* u16 low (x16), u16 high (x64; 0: default) */
	FC_REENTER,      /* u8 what the next callback does: 0 nothing, 1 send, 2 close, 3 abort,
	                    4 shutdown, 5 read_stop, 6 read_start, 7 high water 1, 8 refuse the
	                    ClientHello (on_client_hello only) */
	FC_BATCH,        /* toggle: no loop run after each operation */
	FC_LOOP,         /* one loop run */
	FC_PUMP,         /* everything moves until nothing does */
	/* timers (8 slots, a slot's timer made when first used) and tasks (4 embedded ones and
	 * tlsio_loop_post); an action is what a callback does: low nibble what, high nibble an
	 * argument (fuzz-core.c, do_action) */
	FC_TIMER_NEW,    /* u8 slot */
	FC_TIMER_START,  /* u8 slot, u8 timeout (& 15 ms; 0xff: too long), u8 repeat (bit 3 set:
	                    every 1 + (v & 7) ms, else one-shot; 0xff: too long) */
	FC_TIMER_STOP,   /* u8 slot */
	FC_TIMER_AGAIN,  /* u8 slot */
	FC_TIMER_FREE,   /* u8 slot */
	FC_TIMER_REF,    /* u8 v: slot v & 7 keeps a TLSIO_RUN_DEFAULT run going if bit 7 is set */
	FC_TIMER_ACTION, /* u8 slot, u8 action: what its callback does from now on */
	FC_CONN_ACTION,  /* u8 action: what the next connection callback does */
	FC_POST,         /* u8 action: tlsio_loop_post of a task that does it (& 15) */
	FC_POST_TASK,    /* u8 which: tlsio_loop_post_task of embedded task which & 3 */
	FC_TASK_ACTION,  /* u8 which, u8 action: what embedded task which & 3 does when it runs */
	FC_CLOCK,        /* u8 ms: the loop's clock moves on ms & 31 */
	FC_RUN_UNTIL,    /* u8 ms: tlsio_loop_run(TLSIO_RUN_DEFAULT) with a stop in ms & 31; its
	                    waits move the clock */
	FC_POST_AT_FREE, /* u8 v: v & 3 tlsio_loop_post tasks and the embedded tasks of mask
	                    (v >> 2) & 15, posted right before tlsio_loop_free */
	FC_COUNT
};

#endif
