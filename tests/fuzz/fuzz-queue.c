/* SPDX-License-Identifier: MIT */
/* libFuzzer target: operation sequences on the plaintext and ciphertext queues, checked
 * against a flat model (every byte that comes out must be the next one that went in).
 *
 * Besides the bytes, it checks the two ownership rules the core and the backends rely on:
 *  - a by-reference buffer is the caller's again once its bytes are consumed: the target frees
 *    it right then, so a queue that still touched it is a use-after-free under ASan;
 *  - ciphertext never moves once appended: the iovecs a backend was given (io_uring keeps them
 *    in the kernel) must still show the same bytes after any number of appends and partial
 *    consumes, until those bytes are consumed.
 * The first input byte picks whether each queue takes its chunks from a pool and gives drained
 * ones back (as every connection of a loop does: bit 0 plaintext, bit 1 ciphertext); the pools
 * outlive the queues, which operation 7 drops and starts again on the same pools. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "queue.h"

#define MODEL_MAX (1u << 22)
#define MAX_REFS 64
#define MAX_IOV 16

struct model {
	uint8_t *buf;
	size_t head, tail; /* bytes [head, tail) are queued */
};

/* A by-reference send: its buffer and where its bytes lie in the model stream. */
struct ref {
	uint8_t *buf;
	size_t end;
};

static uint8_t src[1 << 19];

static void fail(void)
{
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tlsio__ptq pq;
	tlsio__ctq cq;
	tlsio__pool ppool = {0}, cpool = {0};
	unsigned mode = size > 0 ? data[0] : 0;
	/* allocated once: a fresh 8 MiB per input would make the kernel's mmap the bottleneck */
	static uint8_t *pbuf, *cbuf, *stage;
	struct model pm = {0}, cm = {0};
	struct iovec iov[MAX_IOV], held[MAX_IOV];
	size_t held_pos[MAX_IOV], nheld = 0;
	struct ref refs[MAX_REFS];
	size_t nrefs = 0;

	if (src[1] == 0)
		for (size_t i = 0; i < sizeof(src); i++)
			src[i] = (uint8_t)(i * 131 + (i >> 8));
	if (pbuf == NULL) {
		pbuf = malloc(MODEL_MAX);
		cbuf = malloc(MODEL_MAX);
		stage = malloc(1 << 16);
		if (pbuf == NULL || cbuf == NULL || stage == NULL)
			abort();
	}
	pm.buf = pbuf;
	cm.buf = cbuf;
	tlsio__ptq_init(&pq);
	tlsio__ctq_init(&cq);
	if (mode & 1)
		tlsio__ptq_use_pool(&pq, &ppool);
	if (mode & 2)
		tlsio__ctq_use_pool(&cq, &cpool);
	for (size_t i = 1; i + 3 <= size; i += 3) {
		unsigned op = data[i] % 10, v = (unsigned)data[i + 1] << 8 | data[i + 2];
		/* mostly small (the common case, and cheap to run: under ASan every fresh page of a
		 * chunk is a page fault, and those were half the time), one in 128 up to 256 KiB:
		 * past the 64 KiB plaintext and 256 KiB ciphertext chunks */
		size_t n = (v & 127) ? (v >> 7) * 8 + (v & 7) : (size_t)(v >> 7) * 512;
		size_t start = (size_t)data[i + 1] * 97 % (sizeof(src) - (1 << 18));
		switch (op) {
		case 0: /* copy send */
			if (pm.tail + n > MODEL_MAX)
				break;
			if (tlsio__ptq_copy(&pq, src + start, n) == 0) {
				memcpy(pm.buf + pm.tail, src + start, n);
				pm.tail += n;
			}
			break;
		case 1: /* by-reference send: the caller's buffer stays put until consumed */
			if (pm.tail + n > MODEL_MAX || nrefs == MAX_REFS || n == 0)
				break;
			refs[nrefs].buf = malloc(n);
			if (refs[nrefs].buf == NULL)
				abort();
			memcpy(refs[nrefs].buf, src + start, n);
			if (tlsio__ptq_ref(&pq, refs[nrefs].buf, n) == 0) {
				memcpy(pm.buf + pm.tail, src + start, n);
				pm.tail += n;
				refs[nrefs++].end = pm.tail;
			} else {
				free(refs[nrefs].buf);
			}
			break;
		case 2: { /* gather + consume, as the encryptor does for small sends */
			size_t cap = n % (1 << 16), want = pq.bytes < cap ? pq.bytes : cap;
			size_t got = tlsio__ptq_gather(&pq, stage, cap);
			if (got != want || memcmp(stage, pm.buf + pm.head, got) != 0)
				fail();
			tlsio__ptq_consume(&pq, got);
			pm.head += got;
			break;
		}
		case 3: { /* peek, then consume part of it, as the encryptor does for large sends */
			size_t len = 0;
			const uint8_t *p = tlsio__ptq_peek(&pq, &len);
			if ((p == NULL) != (pq.bytes == 0) || (pq.bytes > 0 && len == 0) || len > pq.bytes ||
			    (len > 0 && memcmp(p, pm.buf + pm.head, len) != 0))
				fail();
			if (len > 0 && (n & 1)) {
				size_t k = 1 + n % len;
				tlsio__ptq_consume(&pq, k);
				pm.head += k;
			}
			break;
		}
		case 4: /* ciphertext append */
			if (cm.tail + n > MODEL_MAX)
				break;
			if (tlsio__ctq_append(&cq, src + start, n) == 0) {
				memcpy(cm.buf + cm.tail, src + start, n);
				cm.tail += n;
			}
			break;
		case 5: { /* iov with a skip and a limit, compared byte for byte; held as in flight */
			size_t skip = cq.bytes ? n % (cq.bytes + 1) : 0, pos = cm.head + skip;
			size_t max = 1 + data[i + 2] % MAX_IOV;
			size_t k = tlsio__ctq_iov(&cq, skip, iov, max);
			if (k > max)
				fail();
			nheld = 0;
			for (size_t j = 0; j < k; j++) {
				if (iov[j].iov_len == 0 || pos + iov[j].iov_len > cm.tail ||
				    memcmp(iov[j].iov_base, cm.buf + pos, iov[j].iov_len) != 0)
					fail();
				held[nheld] = iov[j];
				held_pos[nheld++] = pos;
				pos += iov[j].iov_len;
			}
			if (k < max && pos != cm.tail)
				fail(); /* room for more iovecs, yet not all the bytes */
			break;
		}
		case 6: /* the kernel took n bytes */
			n = cq.bytes ? n % (cq.bytes + 1) : 0;
			tlsio__ctq_consume(&cq, n);
			cm.head += n;
			break;
		case 7: /* both queues dropped with whatever they hold (a connection that failed);
			 * the pools keep what came back for the next queues */
			tlsio__ptq_free(&pq); /* a freed queue is empty and keeps its pool */
			tlsio__ctq_free(&cq);
			if (pq.bytes != 0 || cq.bytes != 0 || pq.pool != ((mode & 1) ? &ppool : NULL) ||
			    cq.pool != ((mode & 2) ? &cpool : NULL))
				fail();
			pm.head = pm.tail = cm.head = cm.tail = 0;
			nheld = 0;
			for (size_t j = 0; j < nrefs; j++)
				free(refs[j].buf);
			nrefs = 0;
			break;
		case 8: /* empty copy and reference sends change nothing */
			if (tlsio__ptq_copy(&pq, src, 0) != 0 || tlsio__ptq_ref(&pq, src, 0) != 0)
				fail();
			break;
		case 9: /* nothing after the last byte */
			if (tlsio__ctq_iov(&cq, cq.bytes, iov, MAX_IOV) != 0)
				fail();
			break;
		}
		if (pq.bytes != pm.tail - pm.head || cq.bytes != cm.tail - cm.head)
			fail();
		/* by-reference buffers whose bytes are all consumed go back to the caller now */
		while (nrefs > 0 && refs[0].end <= pm.head) {
			free(refs[0].buf);
			memmove(refs, refs + 1, --nrefs * sizeof(refs[0]));
		}
		if (pm.head == pm.tail && nrefs == 0)
			pm.head = pm.tail = 0;
		if (cm.head == cm.tail) {
			cm.head = cm.tail = 0;
			nheld = 0;
		}
		/* in-flight iovecs: their unconsumed bytes stay where they were (appends and consumes
		 * are what could move them). The first and last bytes of each are compared, which a
		 * move would change; any read of memory that was freed is caught by ASan. */
		for (size_t j = 0; (op == 4 || op == 6) && j < nheld; j++) {
			size_t pos = held_pos[j], len = held[j].iov_len, off = 0, k;
			const uint8_t *p = held[j].iov_base;
			if (pos + len <= cm.head)
				continue;
			if (pos < cm.head)
				off = cm.head - pos;
			k = len - off < 64 ? len - off : 64;
			if (memcmp(p + off, cm.buf + pos + off, k) != 0 ||
			    memcmp(p + len - k, cm.buf + pos + len - k, k) != 0)
				fail();
		}
	}
	tlsio__ptq_free(&pq);
	tlsio__ctq_free(&cq);
	tlsio__pool_drain(&ppool);
	tlsio__pool_drain(&cpool);
	for (size_t j = 0; j < nrefs; j++)
		free(refs[j].buf);
	return 0;
}
