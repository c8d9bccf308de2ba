/*
 * fuzz_body: the POST body checks of scenegen-api: cgi/syntax.c (strict
 * RFC 8259 JSON and UTF-8) and cgi/validate.c (the fields), plus the two
 * header validators that live there (Content-Type, Idempotency-Key).
 *
 * Input: the raw body, as nginx hands it over (seeds: the tests' bodies
 * and JSONTestSuite's test_parsing). Oracles beyond "no crash":
 * - utf8_valid() agrees with a reference checker written from RFC 3629;
 * - whatever the strict checker accepts, cJSON parses (the checker may
 *   only be stricter, never looser, than the parser behind it);
 * - an accepted body gives fields that keep SPEC.md's promises (trimmed
 *   description of 1..2000 characters, a known aspect ratio, a UUID or
 *   nothing as script_id), and a refused one names its error.
 */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "extern.h"
#include "log.h"
#include "fuzz.h"

static const char *const ratios[] = {
	"1:1",
	"16:9",
	"9:16",
	"4:3",
	"3:4",
	"3:2",
	"2:3",
	"21:9",
};

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* validate.c logs only when cJSON fails: an invariant below. */
	log_init("fuzz_body",
	    getenv("FUZZ_VERBOSE") != NULL ? LOG_DEBUG : LOG_EMERG);
	return 0;
}

/* Count code points of valid UTF-8; check no white space at either end. */
static size_t
chars_of(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

/* The white space validate.c trims, ASCII part: never left at an end. */
static int
ascii_space(unsigned char c)
{
	return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20);
}

static void
check_accepted(const struct scene_input *in)
{
	size_t i, n, len;

	FUZZ_CHECK(in->description != NULL && in->style != NULL);
	len = strlen(in->description);
	FUZZ_CHECK(fuzz_utf8_ok(in->description, len));
	n = chars_of(in->description);
	FUZZ_CHECK(n >= 1 && n <= 2000);
	FUZZ_CHECK(!ascii_space((unsigned char)in->description[0]));
	FUZZ_CHECK(!ascii_space((unsigned char)in->description[len - 1]));
	len = strlen(in->style);
	FUZZ_CHECK(fuzz_utf8_ok(in->style, len));
	n = chars_of(in->style);
	FUZZ_CHECK(n >= 1 && n <= 64);
	FUZZ_CHECK(fuzz_no_c0(in->style));
	for (i = 0; i < sizeof(ratios) / sizeof(ratios[0]); i++)
		if (strcmp(in->aspect_ratio, ratios[i]) == 0)
			break;
	FUZZ_CHECK(i < sizeof(ratios) / sizeof(ratios[0]));
	FUZZ_CHECK(in->script_id[0] == '\0' || fuzz_uuid_lower(in->script_id));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct scene_input in;
	struct field_error fe;
	enum api_error	   e;
	cJSON		  *o;
	char		  *body, *text;
	int		   rc, utf8, json, nul;

	/* The body with nothing readable after it (not even a NUL). */
	body = fuzz_guarded(data, size);
	utf8 = utf8_valid(body, size);
	FUZZ_CHECK(utf8 == fuzz_utf8_ok(body, size));
	json = syntax_json_ok(body, size);
	nul = memchr(body, '\0', size) != NULL;

	if (json && utf8 && !nul) {
		/* cJSON wants the NUL inside the length to refuse a tail. */
		text = fuzz_cstr(data, size);
		o = cJSON_ParseWithLengthOpts(text, size + 1, NULL, 1);
		FUZZ_CHECK(o != NULL);
		cJSON_Delete(o);
		free(text);
	}

	/*
	 * The body in its exact buffer: validate_scene_body() once read
	 * body[len], safe only with request.c's NUL-terminated struct buf
	 * (fuzz/regressions/fuzz_body/body-nul-read-past-len).
	 */
	rc = validate_scene_body(body, size, &in, &e, &fe);
	if (rc == 0)
		check_accepted(&in);
	else {
		FUZZ_CHECK(rc == -1);
		FUZZ_CHECK(e == ERR_INVALID_JSON || e == ERR_INVALID_FIELD ||
		    e == ERR_INTERNAL);
		if (e == ERR_INVALID_FIELD)
			FUZZ_CHECK(fe.field != NULL && fe.reason != NULL);
		/* Only JSON that passed both checks can fail on a field. */
		if (e == ERR_INVALID_FIELD)
			FUZZ_CHECK(json && utf8 && !nul);
	}
	if (!(json && utf8 && !nul))
		FUZZ_CHECK(rc == -1 && e == ERR_INVALID_JSON);
	scene_input_free(&in);

	/* The same bytes as header values (C strings). */
	text = fuzz_cstr(data, size);
	rc = validate_content_type(text);
	if (rc)
		FUZZ_CHECK(strncasecmp(text + strspn(text, " \t"),
			       "application/json", 16) == 0);
	rc = validate_idempotency_key(text);
	if (rc) {
		size_t i, len = strlen(text);

		FUZZ_CHECK(len >= 1 && len <= 128);
		for (i = 0; i < len; i++)
			FUZZ_CHECK((unsigned char)text[i] >= 0x21 &&
			    (unsigned char)text[i] <= 0x7e);
	}
	free(text);
	return 0;
}
