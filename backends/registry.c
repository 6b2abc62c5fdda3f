/* SPDX-License-Identifier: MIT */
/* The compiled-in backends and choosing one by name. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdlib.h>
#include <string.h>

#include "backend.h"

/* Best first: "auto" takes the first one whose probe succeeds. */
static const tlsio_backend *const all_backends[] = {
#ifdef TLSIO_HAVE_URING
	&tlsio__backend_uring,
#endif
#ifdef TLSIO_HAVE_EPOLL
	&tlsio__backend_epoll,
#endif
#ifdef TLSIO_HAVE_LIBEV
	&tlsio__backend_libev,
#endif
#ifdef TLSIO_HAVE_LIBUV
	&tlsio__backend_libuv,
#endif
	&tlsio__backend_blocking,
};
#define N_BACKENDS (sizeof(all_backends) / sizeof(all_backends[0]))

size_t tlsio_backends(const tlsio_backend **out, size_t max)
{
	for (size_t i = 0; i < N_BACKENDS && i < max; i++)
		out[i] = all_backends[i];
	return N_BACKENDS;
}

const char *tlsio_backend_names(void)
{
	static const char names[] = ""
#ifdef TLSIO_HAVE_URING
		"uring, "
#endif
#ifdef TLSIO_HAVE_EPOLL
		"epoll, "
#endif
#ifdef TLSIO_HAVE_LIBEV
		"libev, "
#endif
#ifdef TLSIO_HAVE_LIBUV
		"libuv, "
#endif
		"blocking (and auto)";
	return names;
}

const char *tlsio_backend_name(const tlsio_backend *b)
{
	return b != NULL ? b->name : "(none)";
}

int tlsio_backend_probe(const tlsio_backend *b, const char **why)
{
	const char *dummy;
	if (why == NULL)
		why = &dummy;
	*why = NULL;
	if (b == NULL) {
		*why = "no such backend";
		return TLSIO_E_NO_BACKEND;
	}
	if (b->probe == NULL)
		return 0;
	return b->probe(why);
}

const tlsio_backend *tlsio_backend_by_name(const char *name)
{
	if (name == NULL || name[0] == '\0') {
		name = getenv("TLSIO_BACKEND");
		if (name == NULL || name[0] == '\0')
			name = "auto";
	}
	if (strcmp(name, "auto") == 0) {
		for (size_t i = 0; i < N_BACKENDS; i++)
			if (tlsio_backend_probe(all_backends[i], NULL) == 0)
				return all_backends[i];
		return NULL;
	}
	for (size_t i = 0; i < N_BACKENDS; i++)
		if (strcmp(all_backends[i]->name, name) == 0)
			return all_backends[i];
	return NULL;
}
