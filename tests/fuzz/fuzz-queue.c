/* libFuzzer target: operation sequences on the plaintext and ciphertext queues, checked
 * against a flat model (every byte that comes out must be the next one that went in). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "queue.h"

#define MODEL_MAX (1u << 22)

struct model {
	uint8_t *buf;
	size_t head, tail; /* bytes [head, tail) are queued */
};

static uint8_t src[1 << 18];

static void fail(void)
{
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tlsio__ptq pq;
	tlsio__ctq cq;
	/* allocated once: a fresh 8 MiB per input would make the kernel's mmap the bottleneck */
	static uint8_t *pbuf, *cbuf, *stage;
	struct model pm = {0}, cm = {0};
	struct iovec iov[16];
	uint8_t *refs[64];
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
	for (size_t i = 0; i + 3 <= size; i += 3) {
		unsigned op = data[i] % 7;
		size_t n = ((size_t)data[i + 1] << 8 | data[i + 2]) % (1 << 17);
		size_t start = (size_t)data[i + 1] * 97 % (sizeof(src) - (1 << 17));
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
			if (pm.tail + n > MODEL_MAX || nrefs == 64 || n == 0)
				break;
			refs[nrefs] = malloc(n);
			memcpy(refs[nrefs], src + start, n);
			if (tlsio__ptq_ref(&pq, refs[nrefs], n) == 0) {
				memcpy(pm.buf + pm.tail, src + start, n);
				pm.tail += n;
				nrefs++;
			} else {
				free(refs[nrefs]);
			}
			break;
		case 2: { /* gather + consume, as the encryptor does */
			size_t got = tlsio__ptq_gather(&pq, stage, n % (1 << 16));
			if (got > pq.bytes || memcmp(stage, pm.buf + pm.head, got) != 0)
				fail();
			tlsio__ptq_consume(&pq, got);
			pm.head += got;
			break;
		}
		case 3: { /* peek */
			size_t len = 0;
			const uint8_t *p = tlsio__ptq_peek(&pq, &len);
			if ((p == NULL) != (pq.bytes == 0) || len > pq.bytes ||
			    (len > 0 && memcmp(p, pm.buf + pm.head, len) != 0))
				fail();
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
		case 5: { /* iov with a skip, compared byte for byte */
			size_t skip = cq.bytes ? n % (cq.bytes + 1) : 0, pos = cm.head + skip;
			size_t k = tlsio__ctq_iov(&cq, skip, iov, 16);
			for (size_t j = 0; j < k; j++) {
				if (pos + iov[j].iov_len > cm.tail ||
				    memcmp(iov[j].iov_base, cm.buf + pos, iov[j].iov_len) != 0)
					fail();
				pos += iov[j].iov_len;
			}
			break;
		}
		case 6: /* the kernel took n bytes */
			n = cq.bytes ? n % (cq.bytes + 1) : 0;
			tlsio__ctq_consume(&cq, n);
			cm.head += n;
			break;
		}
		if (pq.bytes != pm.tail - pm.head || cq.bytes != cm.tail - cm.head)
			fail();
	}
	tlsio__ptq_free(&pq);
	tlsio__ctq_free(&cq);
	for (size_t j = 0; j < nrefs; j++)
		free(refs[j]);
	return 0;
}
