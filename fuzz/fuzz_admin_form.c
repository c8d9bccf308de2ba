/*
 * fuzz_admin_form: cgi/admin_form.c, the dashboard's parser of query
 * strings and form bodies (application/x-www-form-urlencoded), and its
 * check of the values.
 *
 * Input: the bytes of a query string or body, as they come. Beyond "no
 * crash": an accepted form has only known fields, each value at most
 * ADMIN_VALUE_MAX bytes of UTF-8 (RFC 3629, checked by fuzz.h's own
 * reader) without control characters; a refusal names a field or none;
 * values that pass admin_form_check() are what they claim (a status
 * word, UUIDs, retry or cancel, a count up to ADMIN_BULK_MAX).
 */
#include <stdint.h>
#include <string.h>

#include "extern.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct admin_form form;
	enum admin_field  bad, f;
	char		 *in = fuzz_bytes(data, len);
	const char	 *v;
	size_t		  i;

	if (admin_form_parse(in, len, &form, &bad) == -1) {
		FUZZ_CHECK(bad <= AF__MAX);
		goto out;
	}
	FUZZ_CHECK(len <= ADMIN_FORM_MAX);
	FUZZ_CHECK((form.given >> AF__MAX) == 0);
	for (f = 0; f < AF__MAX; f++) {
		v = admin_form_get(&form, f);
		if (v == NULL)
			continue;
		FUZZ_CHECK(strlen(v) > 0 && strlen(v) <= ADMIN_VALUE_MAX);
		FUZZ_CHECK(fuzz_utf8_ok(v, strlen(v)));
		for (i = 0; v[i] != '\0'; i++)
			FUZZ_CHECK((unsigned char)v[i] >= 0x20 && v[i] != 0x7f);
	}
	if (admin_form_check(&form, &bad) == -1) {
		FUZZ_CHECK(bad < AF__MAX && (form.given & (1u << bad)));
		goto out;
	}
	v = admin_form_get(&form, AF_USER);
	if (v != NULL)
		FUZZ_CHECK(uuid_is_valid(v));
	v = admin_form_get(&form, AF_CHAPTER);
	if (v != NULL)
		FUZZ_CHECK(uuid_is_valid(v));
	v = admin_form_get(&form, AF_ACTION);
	if (v != NULL)
		FUZZ_CHECK(strcmp(v, "retry") == 0 || strcmp(v, "cancel") == 0);
	v = admin_form_get(&form, AF_EXPECTED);
	if (v != NULL)
		FUZZ_CHECK(strspn(v, "0123456789") == strlen(v) &&
		    strtol(v, NULL, 10) <= ADMIN_BULK_MAX);
	v = admin_form_get(&form, AF_STATUS);
	if (v != NULL) {
		for (i = 0; i < RECORD__MAX; i++)
			if (strcmp(v, record_status_names[i]) == 0)
				break;
		FUZZ_CHECK(i < RECORD__MAX);
	}
out:
	free(in);
	return 0;
}
