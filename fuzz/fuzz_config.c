/*
 * fuzz_config: the settings parsers, lib/config.c (through config_load(),
 * its only entry) and lib/redis_url.c, and the two programs' tables on
 * top of them (cgi/config.c api_config_load(), daemon/config.c
 * settings_load() and its SIGHUP re-read settings_reload_log_level()).
 * Settings come from the administrator, not from clients, but a bad one
 * must stop start-up with one line, never crash it (DESIGN.md, 10).
 *
 * Input: one mode byte, then:
 *  0  one value, given to a table of one entry of each type, by the
 *     environment, as a default, and (bytes as they are) by a _FILE
 *     secret;
 *  1  a REDIS_URL;
 *  2  lines "<k><value>" (k picks a setting of scenegen-api) over a
 *     valid base, then api_config_load();
 *  3  the same for scenegend's settings_load(); what follows a line
 *     "\x01" is the environment file SIGHUP re-reads.
 * Files are a memfd, named /proc/self/fd/N: no path comes from the input.
 */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "redis_url.h"
#include "settings.h"
#include "extern.h"
#include "fuzz.h"

static int  memfd = -1;
static char memfd_path[64];

/* Every variable the tables read, cleared before each input. */
static const char *const api_names[] = {
	"DATABASE_URL",
	"REDIS_URL",
	"SUPABASE_JWT_SECRET",
	"JWT_AUDIENCE",
	"JWT_ISSUER",
	"JWT_ALGORITHM",
	"SCENEGEN_API_SOCKET",
	"SCENEGEN_API_SOCKET_MODE",
	"SCENEGEN_API_SOCKET_GROUP",
	"SCENEGEN_API_WORKERS",
	"SCENEGEN_LOG_LEVEL",
	"SCENEGEN_RATE_LIMIT_PER_MINUTE",
	"SCENEGEN_ESTIMATE_SECONDS",
};
static const char *const daemon_names[] = {
	"DATABASE_URL",
	"REDIS_URL",
	"MODELSLAB_API_KEY",
	"MODELSLAB_BASE_URL",
	"MODELSLAB_MODEL_ID",
	"MODELSLAB_MAX_QUEUED",
	"SCENEGEN_IMAGE_DIR",
	"SCENEGEN_IMAGE_BASE_URL",
	"SCENEGEN_KEEP_PROVIDER_URL",
	"SCENEGEN_MAX_RETRIES",
	"SCENEGEN_BACKOFF_SCALE",
	"SCENEGEN_LEASE_SECONDS",
	"SCENEGEN_SWEEP_SECONDS",
	"SCENEGEN_PENDING_GRACE_SECONDS",
	"SCENEGEN_HTTP_TIMEOUT",
	"SCENEGEN_CONNECT_TIMEOUT",
	"SCENEGEN_POLL_MIN_SECONDS",
	"SCENEGEN_POLL_MAX_SECONDS",
	"SCENEGEN_GENERATION_TIMEOUT",
	"SCENEGEN_DRAIN_SECONDS",
	"SCENEGEN_CONSUMER",
	"SCENEGEN_LOG_LEVEL",
	"SCENEGEN_METRICS_FILE",
	"SCENEGEN_ENV_FILE",
	"SCENEGEN_DB_CONNECTIONS",
	"SCENEGEN_IMAGE_MAX_BYTES",
};
static const char *const secret_files[] = {
	"DATABASE_URL_FILE",
	"REDIS_URL_FILE",
	"SUPABASE_JWT_SECRET_FILE",
	"MODELSLAB_API_KEY_FILE",
	"FUZZ",
	"FUZZ_FILE",
	"CREDENTIALS_DIRECTORY",
};

#define NITEMS(a) (sizeof(a) / sizeof((a)[0]))

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_init("fuzz_config",
	    getenv("FUZZ_VERBOSE") != NULL ? LOG_DEBUG : LOG_EMERG);
	memfd = memfd_create("fuzz_config", MFD_CLOEXEC);
	if (memfd == -1)
		abort();
	snprintf(memfd_path, sizeof(memfd_path), "/proc/self/fd/%d", memfd);
	return 0;
}

/*
 * setenv() with a value from the input. glibc's setenv() keeps every
 * value it was ever given (so old pointers stay valid), which grows
 * without bound over millions of inputs; putenv() of one buffer per
 * name, rewritten in place, does not.
 */
#define ENV_BUF_MAX (9000 + 64)

static void
fuzz_setenv(const char *name, const char *value)
{
	static struct {
		const char *name;
		char	    buf[ENV_BUF_MAX];
	} slots[48];
	size_t i;

	for (i = 0; i < NITEMS(slots) && slots[i].name != NULL; i++)
		if (strcmp(slots[i].name, name) == 0)
			break;
	if (i == NITEMS(slots))
		abort();
	slots[i].name = name;
	unsetenv(name);
	snprintf(slots[i].buf, sizeof(slots[i].buf), "%s=%s", name, value);
	if (putenv(slots[i].buf) != 0)
		abort();
}

static void
clear_env(void)
{
	size_t i;

	for (i = 0; i < NITEMS(api_names); i++)
		unsetenv(api_names[i]);
	for (i = 0; i < NITEMS(daemon_names); i++)
		unsetenv(daemon_names[i]);
	for (i = 0; i < NITEMS(secret_files); i++)
		unsetenv(secret_files[i]);
	unsetenv("FUZZ_VALUE");
}

/* Put data in the memfd, as a whole file. */
static void
memfd_fill(const uint8_t *data, size_t size)
{
	if (ftruncate(memfd, 0) == -1 ||
	    (size > 0 && pwrite(memfd, data, size, 0) != (ssize_t)size) ||
	    lseek(memfd, 0, SEEK_SET) == -1)
		abort();
}

/* Mode 0: one value through every type, three ways. */
static void
one_value(const uint8_t *data, size_t size)
{
	char		    err[256], *s = NULL, *v;
	long		    l = 0;
	double		    d = 0;
	int		    b = -1, rc;
	size_t		    i, len;
	struct config_entry t[] = {
		{ "FUZZ_VALUE", CONFIG_STRING, NULL, 0, 0, 1, 0, &s },
		{ "FUZZ_VALUE", CONFIG_INT, NULL, -5, 1000000, 1, 0, &l },
		{ "FUZZ_VALUE", CONFIG_INT, NULL, (double)LONG_MIN,
		    (double)LONG_MAX, 1, 0, &l },
		{ "FUZZ_VALUE", CONFIG_DOUBLE, NULL, 0.001, 100, 1, 0, &d },
		{ "FUZZ_VALUE", CONFIG_DOUBLE, NULL, -INFINITY, INFINITY, 1, 0,
		    &d },
		{ "FUZZ_VALUE", CONFIG_BOOL, NULL, 0, 0, 1, 0, &b },
		{ "FUZZ", CONFIG_STRING, NULL, 0, 0, 1, 1, &s },
	};

	v = fuzz_cstr(data, size);
	for (i = 0; i < NITEMS(t) - 1; i++) {
		/* From the environment (an empty value counts as unset). */
		if (*v != '\0')
			fuzz_setenv("FUZZ_VALUE", v);
		rc = config_load(&t[i], 1, err, sizeof(err));
		unsetenv("FUZZ_VALUE");
		FUZZ_CHECK(rc == 0 || rc == -1);
		if (rc == -1)
			FUZZ_CHECK(err[0] != '\0' &&
			    strnlen(err, sizeof(err)) < sizeof(err));
		else if (t[i].type == CONFIG_INT)
			FUZZ_CHECK(l >= t[i].min && l <= t[i].max);
		else if (t[i].type == CONFIG_DOUBLE)
			FUZZ_CHECK(!isnan(d) && d >= t[i].min && d <= t[i].max);
		else if (t[i].type == CONFIG_BOOL)
			FUZZ_CHECK(b == 0 || b == 1);
		else if (t[i].type == CONFIG_STRING) {
			FUZZ_CHECK(rc == -1 || *v == '\0' || strcmp(s, v) == 0);
			free(s);
			s = NULL;
		}
		/* As a default, through the same parser. */
		t[i].default_value = v;
		rc = config_load(&t[i], 1, err, sizeof(err));
		t[i].default_value = NULL;
		FUZZ_CHECK(rc == 0 || rc == -1);
		free(s);
		s = NULL;
	}

	/* A secret from a file: the bytes as they are, final newlines cut. */
	memfd_fill(data, size);
	setenv("FUZZ_FILE", memfd_path, 1);
	rc = config_load(&t[NITEMS(t) - 1], 1, err, sizeof(err));
	unsetenv("FUZZ_FILE");
	if (size > 8192)
		FUZZ_CHECK(rc == -1);
	else {
		FUZZ_CHECK(rc == 0 && s != NULL);
		len = size;
		while (
		    len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r'))
			len--;
		FUZZ_CHECK(strncmp(s, (const char *)data, len) == 0 ||
		    memchr(data, '\0', len) != NULL);
		FUZZ_CHECK(strlen(s) <= len);
	}
	free(s);
	free(v);
}

/* Mode 1: one REDIS_URL. */
static void
redis_url(const uint8_t *data, size_t size)
{
	struct redis_endpoint ep;
	char		      err[256], *url;

	url = fuzz_cstr(data, size);
	err[0] = '\0';
	if (redis_url_parse(url, &ep, err, sizeof(err)) == 0) {
		FUZZ_CHECK((ep.host == NULL) != (ep.unix_path == NULL));
		if (ep.host != NULL)
			FUZZ_CHECK(ep.host[0] != '\0' &&
			    strncmp(url, "redis://", 8) == 0);
		else
			FUZZ_CHECK(ep.unix_path[0] == '/' &&
			    strncmp(url, "unix://", 7) == 0);
		FUZZ_CHECK(ep.port >= 1 && ep.port <= 65535);
		FUZZ_CHECK(ep.db >= 0 && ep.db <= 10000);
		redis_endpoint_free(&ep);
	} else {
		FUZZ_CHECK(err[0] != '\0');
		FUZZ_CHECK(ep.host == NULL && ep.unix_path == NULL &&
		    ep.username == NULL && ep.password == NULL);
	}
	free(url);
}

/*
 * Set the variables of lines "<k><value>\n" (k indexes names) and
 * return where a "\x01\n" line ends them (the rest), or NULL.
 */
static const uint8_t *
set_lines(const uint8_t *data, size_t size, const char *const *names, size_t n,
    size_t *rest)
{
	const uint8_t *p = data, *end = data + size, *nl;
	char	      *v;

	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		if (nl - p == 1 && p[0] == 0x01) {
			*rest = (size_t)(end - nl) - (nl < end);
			return nl < end ? nl + 1 : end;
		}
		if (nl > p) {
			v = fuzz_cstr(p + 1, (size_t)(nl - p - 1));
			if (*v == '\0')
				unsetenv(names[p[0] % n]);
			else
				fuzz_setenv(names[p[0] % n], v);
			free(v);
		}
		p = nl + 1;
	}
	return NULL;
}

static void
api_free(struct api_config *c)
{
	free(c->database_url);
	free(c->redis_url);
	free(c->jwt_secret);
	free(c->jwt_audience);
	free(c->jwt_issuer);
	free(c->jwt_algorithm);
	free(c->socket_path);
	free(c->socket_mode_text);
	free(c->socket_group);
	free(c->log_level);
}

/* Mode 2: scenegen-api's table over a valid base. */
static void
api_table(const uint8_t *data, size_t size)
{
	struct api_config c;
	char		  err[512];
	size_t		  rest;

	setenv("DATABASE_URL", "postgresql:///scenegen", 1);
	setenv("REDIS_URL", "redis://localhost:6379/0", 1);
	setenv("SUPABASE_JWT_SECRET", "fuzz-secret", 1);
	set_lines(data, size, api_names, NITEMS(api_names), &rest);
	err[0] = '\0';
	if (api_config_load(&c, err, sizeof(err)) == 0) {
		FUZZ_CHECK(strcmp(c.jwt_algorithm, "HS256") == 0);
		FUZZ_CHECK(c.jwt_secret[0] != '\0');
		FUZZ_CHECK(c.jwt_audience[0] != '\0');
		FUZZ_CHECK(c.socket_mode <= 0777);
		FUZZ_CHECK(
		    c.log_priority >= LOG_ERR && c.log_priority <= LOG_DEBUG);
		FUZZ_CHECK(c.workers >= 0 && c.workers <= 256);
		FUZZ_CHECK(
		    c.estimate_seconds >= 1 && c.estimate_seconds <= 86400);
	} else
		FUZZ_CHECK(err[0] != '\0');
	api_free(&c);
}

/* Mode 3: scenegend's table, then its SIGHUP re-read of a file. */
static void
daemon_table(const uint8_t *data, size_t size)
{
	struct settings s;
	const uint8_t  *file;
	char		err[512];
	size_t		rest = 0;
	int		p;

	setenv("DATABASE_URL", "postgresql:///scenegen", 1);
	setenv("REDIS_URL", "redis://localhost:6379/0", 1);
	setenv("MODELSLAB_API_KEY", "fuzz-key", 1);
	file = set_lines(data, size, daemon_names, NITEMS(daemon_names), &rest);
	err[0] = '\0';
	if (settings_load(&s, err, sizeof(err)) == 0) {
		FUZZ_CHECK(s.poll_max_seconds >= s.poll_min_seconds);
		/*
		 * Still a URL once trailing slashes are cut: "https:///"
		 * must not become "https:" (fixed in c020f69;
		 * fuzz/regressions/fuzz_config/config-base-url-slashes).
		 */
		FUZZ_CHECK((strncmp(s.base_url, "http://", 7) == 0 &&
			       s.base_url[7] != '\0' && s.base_url[7] != '/') ||
		    (strncmp(s.base_url, "https://", 8) == 0 &&
			s.base_url[8] != '\0' && s.base_url[8] != '/'));
		FUZZ_CHECK(s.consumer != NULL && s.consumer[0] != '\0');
		FUZZ_CHECK(s.max_retries >= 0 && s.max_retries <= 20);
		FUZZ_CHECK(
		    s.keep_provider_url == 0 || s.keep_provider_url == 1);
		if (file != NULL) {
			memfd_fill(file, rest);
			free(s.env_file);
			s.env_file = strdup(memfd_path);
			if (s.env_file == NULL)
				abort();
			p = settings_reload_log_level(&s);
			FUZZ_CHECK(p == -1 || (p >= LOG_ERR && p <= LOG_DEBUG));
		}
	} else
		FUZZ_CHECK(err[0] != '\0');
	settings_free(&s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	clear_env();
	switch (data[0] & 3) {
	case 0:
		one_value(data + 1, size - 1);
		break;
	case 1:
		redis_url(data + 1, size - 1);
		break;
	case 2:
		api_table(data + 1, size - 1);
		break;
	default:
		daemon_table(data + 1, size - 1);
		break;
	}
	clear_env();
	return 0;
}
