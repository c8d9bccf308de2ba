/*
 * TAP output for the C unit tests of t/c/: test_ok() prints one line and
 * remembers a failure; main() returns test_failed. Header only: each
 * test is one program built from its .c and the library files it tests.
 */
#ifndef SCENEGEN_T_TAP_H
#define SCENEGEN_T_TAP_H

#include <stdio.h>

static int test_n;
static int test_failed;

/* One TAP line: "ok N - name" or "not ok N - name". */
static void
test_ok(int ok, const char *name)
{
	test_n++;
	if (!ok)
		test_failed = 1;
	printf("%sok %d - %s\n", ok ? "" : "not ", test_n, name);
}

#endif
