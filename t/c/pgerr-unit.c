/*
 * Unit test of lib/pgerr.c, printing TAP: the SQLSTATE classification
 * every program shares, and the libpq message flattener. Built and run
 * by t/lib-pgerr.t.
 */
#include <stdio.h>
#include <string.h>

#include "pgerr.h"
#include "tap.h"

static const struct {
	const char	*state;
	int		 transient;
	const char	*what;
} cases[] = {
	{ NULL, 1, "no SQLSTATE (connection lost, out of memory)" },
	{ "", 1, "an empty SQLSTATE" },
	{ "08006", 1, "08006 connection failure" },
	{ "08001", 1, "08001 cannot establish a connection" },
	{ "25006", 1, "25006 read-only transaction (a standby)" },
	{ "25P03", 1, "25P03 idle-in-transaction timeout" },
	{ "26000", 1, "26000 prepared statement missing" },
	{ "40001", 1, "40001 serialization failure" },
	{ "40P01", 1, "40P01 deadlock" },
	{ "40003", 1, "40003 statement completion unknown" },
	{ "40002", 0, "40002 deferred constraint failed at commit" },
	{ "53100", 1, "53100 disk full" },
	{ "53200", 1, "53200 out of memory" },
	{ "53300", 1, "53300 too many connections" },
	{ "55P03", 1, "55P03 lock not available" },
	{ "55006", 0, "55006 object in use" },
	{ "57014", 1, "57014 query canceled (statement timeout)" },
	{ "57P01", 1, "57P01 admin shutdown" },
	{ "57P02", 1, "57P02 crash shutdown" },
	{ "57P03", 1, "57P03 cannot connect now" },
	{ "57P04", 0, "57P04 database dropped" },
	{ "22P02", 0, "22P02 invalid text representation" },
	{ "23505", 0, "23505 unique violation" },
	{ "23503", 0, "23503 foreign key violation" },
	{ "28P01", 0, "28P01 invalid password" },
	{ "3D000", 0, "3D000 no such database" },
	{ "42P01", 0, "42P01 undefined table" },
	{ "42501", 0, "42501 insufficient privilege" },
	{ "54000", 0, "54000 program limit exceeded" },
	{ "58030", 0, "58030 I/O error" },
	{ "XX000", 0, "XX000 internal error" },
	{ "XX001", 0, "XX001 data corrupted" },
	{ "25P02", 0, "25P02 in failed transaction" },
	{ "0800", 1, "a malformed (short) SQLSTATE counts as no answer" },
};

int
main(void)
{
	char	 out[32], small[8], name[128];
	size_t	 i, ncases = sizeof(cases) / sizeof(cases[0]);

	printf("1..%zu\n", ncases + 7);
	for (i = 0; i < ncases; i++) {
		snprintf(name, sizeof(name), "%s: %s", cases[i].what,
		    cases[i].transient ? "transient" : "permanent");
		test_ok(pgerr_transient(cases[i].state) == cases[i].transient,
		    name);
	}
	test_ok(strcmp(pgerr_flatten("ERROR:  x\nDETAIL:  y\n", out,
	    sizeof(out)), "ERROR:  x DETAIL:  y") == 0,
	    "lines joined by one space, no trailing newline");
	test_ok(strcmp(pgerr_flatten("a\r\n\tb", out, sizeof(out)),
	    "a b") == 0, "CR, LF and tab runs become one space");
	test_ok(strcmp(pgerr_flatten("a\033[2Jb\x7f", out, sizeof(out)),
	    "a[2Jb") == 0, "other control characters are dropped");
	test_ok(strcmp(pgerr_flatten(NULL, out, sizeof(out)),
	    "unknown error") == 0, "NULL reads unknown error");
	test_ok(strcmp(pgerr_flatten("", out, sizeof(out)),
	    "unknown error") == 0, "empty reads unknown error");
	memset(small, 'Z', sizeof(small));
	pgerr_flatten("0123456789abcdef", small, sizeof(small));
	test_ok(strcmp(small, "0123456") == 0,
	    "cut to fit the buffer, NUL-terminated");
	test_ok(pgerr_flatten("x", small, 0) == small,
	    "a zero-length buffer is left alone");
	return test_failed;
}
