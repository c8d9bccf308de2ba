/*
 * provider.h: the ModelsLab V7 image API client (modelslab-v7.md): the
 * requests it sends and every answer variant it accepts, read into one
 * struct and classified.
 */
#ifndef SCENEGEND_PROVIDER_H
#define SCENEGEND_PROVIDER_H

#include <stddef.h>

struct http_result;
struct settings;

enum provider_kind {
	PROVIDER_SUCCESS,    /* image ready: output_url / proxy_url */
	PROVIDER_PROCESSING, /* queued: id, eta */
	PROVIDER_GEN_FAILED, /* the generation failed: retry anew */
	PROVIDER_RETRY,	     /* transient: try again later */
	PROVIDER_FATAL,	     /* retrying cannot help */
	PROVIDER_KIND__MAX
};

extern const char *const provider_kind_names[PROVIDER_KIND__MAX];

#define PROVIDER_URL_MAX 4096

struct provider_answer {
	enum provider_kind kind;
	char		   id[128];	    /* request id, "" none */
	double		   eta;		    /* seconds, -1 unknown */
	double		   generation_time; /* -1 unknown */
	double		   retry_after;	    /* seconds, -1 none */
	char		   output_url[PROVIDER_URL_MAX];
	char		   proxy_url[PROVIDER_URL_MAX];
	char		   model[128];	 /* meta.model_id, "" */
	int		   request_dead; /* id is final: create anew */
	long		   http_status;
	char		   message[768]; /* for people: clean text */
};

/*
 * Body of a create call for prompt (description + style) as a new
 * string (caller frees), NULL when out of memory.
 */
char *provider_create_body(const struct settings *, const char *record_id,
    const char *description, const char *style, const char *aspect_ratio);
/* Body of a fetch call, likewise. */
char *provider_fetch_body(const struct settings *);
/* URLs; 0 or -1 when they do not fit. */
int   provider_create_url(const struct settings *, char *, size_t);
int provider_fetch_url(const struct settings *, const char *id, char *, size_t);
/* The "key: ..." header line as a new string, NULL when out of memory. */
char *provider_key_header(const struct settings *);

/*
 * Read one answer (create or fetch) into a, judging by the transport
 * first, then the HTTP status, then the JSON "status".
 */
void provider_parse(const struct settings *, const struct http_result *,
    int is_fetch, struct provider_answer *a);

#endif
