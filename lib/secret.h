/*
 * Freeing a secret (a password, an API key, a body that carries one):
 * its bytes are wiped first, so that no freed heap block still holds it
 * for a core dump or a later read of uninitialised memory. Inline, so
 * that every program and fuzz harness has it without another object.
 */
#ifndef SCENEGEN_SECRET_H
#define SCENEGEN_SECRET_H

#include <stdlib.h>
#include <string.h>

/* Wipe the string s (up to its NUL) and free it; NULL does nothing. */
static inline void
secret_free(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

#endif
