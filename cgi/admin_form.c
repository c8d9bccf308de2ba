/*
 * The dashboard's form fields, from a query string or an
 * application/x-www-form-urlencoded body (the same syntax, WHATWG URL
 * "application/x-www-form-urlencoded parsing"): a fixed set of names,
 * each at most once, percent-escapes and '+' decoded, the result valid
 * UTF-8 without control characters. Anything else is a 400 naming the
 * field. Values are checked here once (admin_form_check), so the pages
 * bind them to SQL as they are.
 */
#include <string.h>

#include "extern.h"
#include "percent.h"

const char *const admin_field_names[AF__MAX] = {
	"status",   /* AF_STATUS */
	"class",    /* AF_CLASS */
	"user",	    /* AF_USER */
	"chapter",  /* AF_CHAPTER */
	"action",   /* AF_ACTION */
	"expected", /* AF_EXPECTED */
	"csrf",	    /* AF_CSRF */
	"token",    /* AF_TOKEN */
};

/*
 * Decode s (len bytes) into out (ADMIN_VALUE_MAX + 1 bytes). -1 when
 * too long, a bad escape, a control character or not UTF-8.
 */
static int
form_decode(const char *s, size_t len, char *out)
{
	long n = percent_decode(s, len, out, ADMIN_VALUE_MAX, 0);

	return n != -1 && utf8_valid(out, (size_t)n) ? 0 : -1;
}

/* The field called name (len bytes), or AF__MAX. */
static enum admin_field
form_field(const char *name, size_t len)
{
	enum admin_field f;

	for (f = 0; f < AF__MAX; f++)
		if (strlen(admin_field_names[f]) == len &&
		    memcmp(admin_field_names[f], name, len) == 0)
			break;
	return f;
}

/*
 * Parse s (len bytes; "" is no field) into form, zeroed first. -1 with
 * *bad the field that is repeated or malformed, or AF__MAX for a name
 * that is not a field (or a pair without '=').
 */
int
admin_form_parse(const char *s, size_t len, struct admin_form *form,
    enum admin_field *bad)
{
	const char	*p = s, *end = s + len, *amp, *eq;
	enum admin_field f;

	memset(form, 0, sizeof(*form));
	*bad = AF__MAX;
	if (len > ADMIN_FORM_MAX)
		return -1;
	while (p < end) {
		amp = memchr(p, '&', (size_t)(end - p));
		if (amp == NULL)
			amp = end;
		if (amp == p) { /* "a=1&&b=2": skip the empty pair */
			p++;
			continue;
		}
		eq = memchr(p, '=', (size_t)(amp - p));
		if (eq == NULL)
			return -1;
		f = form_field(p, (size_t)(eq - p));
		if (f == AF__MAX)
			return -1;
		*bad = f;
		if (form->given & (1u << f))
			return -1;
		if (form_decode(eq + 1, (size_t)(amp - eq - 1), form->v[f]) ==
		    -1)
			return -1;
		if (form->v[f][0] != '\0')
			form->given |= 1u << f;
		p = amp < end ? amp + 1 : end;
	}
	*bad = AF__MAX;
	return 0;
}

const char *
admin_form_get(const struct admin_form *form, enum admin_field f)
{
	return (form->given & (1u << f)) ? form->v[f] : NULL;
}

/*
 * Check the values of the fields given: a status word, UUIDs, an
 * action, a count from 0 to ADMIN_BULK_MAX. 0, or -1 with *bad.
 */
int
admin_form_check(const struct admin_form *form, enum admin_field *bad)
{
	const char *v;
	size_t	    i;
	int	    ok = 0;

	v = admin_form_get(form, AF_STATUS);
	if (v != NULL) {
		for (i = 0; i < RECORD__MAX; i++)
			if (strcmp(v, record_status_names[i]) == 0)
				ok = 1;
		if (!ok) {
			*bad = AF_STATUS;
			return -1;
		}
	}
	if (admin_form_get(form, AF_USER) != NULL &&
	    !uuid_is_valid(form->v[AF_USER])) {
		*bad = AF_USER;
		return -1;
	}
	if (admin_form_get(form, AF_CHAPTER) != NULL &&
	    !uuid_is_valid(form->v[AF_CHAPTER])) {
		*bad = AF_CHAPTER;
		return -1;
	}
	v = admin_form_get(form, AF_ACTION);
	if (v != NULL && strcmp(v, "retry") != 0 && strcmp(v, "cancel") != 0) {
		*bad = AF_ACTION;
		return -1;
	}
	v = admin_form_get(form, AF_EXPECTED);
	if (v != NULL) {
		if (strlen(v) > 5 || strspn(v, "0123456789") != strlen(v) ||
		    (v[0] == '0' && v[1] != '\0')) {
			*bad = AF_EXPECTED;
			return -1;
		}
		for (i = 0, ok = 0; v[i] != '\0'; i++)
			ok = ok * 10 + (v[i] - '0');
		if (ok > ADMIN_BULK_MAX) {
			*bad = AF_EXPECTED;
			return -1;
		}
	}
	return 0;
}
