/* SPDX-License-Identifier: MIT */
/* Reading the caller's versioned structures (see "ABI" in tlsio.h). */
#ifndef TLSIO_ABI_H
#define TLSIO_ABI_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Copy the caller's structure @p src (whose first field is its struct_size) into the library's
 * @p dst of @p dst_size bytes, like the kernel's copy_struct_from_user: a shorter one (an older
 * header) leaves the fields it lacks zero, which means their defaults; a longer one (a newer
 * header) is accepted only if every byte past ours is zero, since a field we do not know cannot
 * be honoured. NULL gives the defaults. dst's struct_size ends up as ours.
 * @return 0, -EINVAL (struct_size 0 or too small: not initialised with its macro) or -E2BIG. */
static inline int tlsio__struct_in(void *dst, size_t dst_size, const void *src)
{
	size_t n;
	memset(dst, 0, dst_size);
	if (src != NULL) {
		memcpy(&n, src, sizeof(n));
		if (n < sizeof(size_t))
			return -EINVAL;
		/* a size no header will reach: an uninitialised field, not a newer structure (the
		 * kernel's openat2 refuses above a page likewise) */
		if (n > 4096)
			return -E2BIG;
		if (n > dst_size) {
			for (size_t i = dst_size; i < n; i++)
				if (((const uint8_t *)src)[i] != 0)
					return -E2BIG;
			n = dst_size;
		}
		memcpy(dst, src, n);
	}
	memcpy(dst, &dst_size, sizeof(dst_size));
	return 0;
}

/* The other way, for structures the caller fills from ours (statistics): at most the caller's
 * struct_size bytes are written, and its struct_size stays. @return 0 or -EINVAL. */
static inline int tlsio__struct_out(void *dst, const void *src, size_t src_size)
{
	size_t n;
	memcpy(&n, dst, sizeof(n));
	if (n < sizeof(size_t))
		return -EINVAL;
	if (n > src_size)
		n = src_size;
	memcpy((uint8_t *)dst + sizeof(size_t), (const uint8_t *)src + sizeof(size_t), n - sizeof(size_t));
	return 0;
}

#endif

