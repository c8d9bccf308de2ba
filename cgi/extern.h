/*
 * scenegen-api: the interfaces between its parts, one section per file.
 *
 * Ownership: a worker (struct worker) owns its PostgreSQL and Redis
 * connections for its whole life; a request (struct request) owns what
 * hangs off it (body, parsed input) and request_free() frees it in one
 * place after the answer is written.
 */
#ifndef SCENEGEN_API_EXTERN_H
#define SCENEGEN_API_EXTERN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <fcgiapp.h>
#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#include "buf.h"
#include "json_out.h"
#include "redis_url.h"
#include "uuid.h"

#define BODY_MAX_KIB 16 /* KiB of request body accepted */
#define BODY_MAX     (BODY_MAX_KIB * 1024)
#define TIER_MAX     32 /* bytes of a tier name */

/* config.c: the settings, loaded once at start-up. */
/* One tier's admission rate (SCENEGEN_RATE_LIMITS). */
struct tier_rate {
	char tier[TIER_MAX + 1];
	long quota;  /* POSTs per window */
	long window; /* seconds */
};
#define TIER_RATES_MAX 16

struct api_config {
	char		*database_url;
	char		*redis_url;
	char		*jwt_secret;
	char		*jwt_audience;
	char		*jwt_issuer; /* NULL: iss not checked */
	char		*jwt_algorithm;
	char		*socket_path;
	char		*socket_mode_text;
	char		*socket_group; /* NULL: group unchanged */
	char		*log_level;
	char		*events_socket;	   /* NULL: no live status */
	char		*scoreboard;	   /* NULL: none */
	long		 workers;	   /* 0: four per CPU */
	long		 keep_idle_ms;	   /* kept connection idle limit */
	long		 keep_max;	   /* connections a worker holds */
	long		 rate_limit;	   /* POSTs/user/minute; 0 off */
	long		 estimate_seconds; /* fallback generation time */
	char		*rate_limits_text; /* SCENEGEN_RATE_LIMITS; NULL: off */
	struct tier_rate rates[TIER_RATES_MAX];
	int		 nrates;
	long		 max_waiting;		/* per user; 0: off */
	int		 webhook_allow_private; /* private hosts and http */
	char		*admin_token; /* dashboard operator; NULL: none */
	char		*admin_readonly_token; /* dashboard read-only */
	long		 admin_session_seconds;
	mode_t		 socket_mode;
	int		 log_priority;
};

int api_config_load(struct api_config *, char *err, size_t errlen);

/* socket.c: the listening socket. */
struct listener {
	int	    fd;
	int	    created; /* we bound it: unlink on exit */
	const char *path;
};

int  listener_open(const struct api_config *, struct listener *);
void listener_close(struct listener *);

/* pool.c: the parent that forks and supervises workers. */
int pool_run(const struct api_config *, struct listener *);

/*
 * scoreboard.c: each worker's state in a shared file, one byte each
 * (SCOREBOARD_IDLE, SCOREBOARD_BUSY or SCOREBOARD_KEPT) and a newline.
 */
#define SCOREBOARD_IDLE '.'
#define SCOREBOARD_BUSY 'B'
#define SCOREBOARD_KEPT 'K' /* idle, holding a kept connection */
/* Create path for n workers and map it shared; NULL (logged) on failure. */
char *scoreboard_open(const char *path, size_t n);
void  scoreboard_close(char *board, size_t n);

/*
 * fdlimit.c: raise the soft open-file limit to what SCENEGEN_API_KEEP_MAX
 * kept connections need; -1 (err set, naming the setting) if the hard
 * limit is lower.
 */
int fdlimit_raise(const struct api_config *, char *err, size_t errlen);

/*
 * worker.c: one worker process's accept loop; never returns. board is
 * its byte of the scoreboard, or NULL.
 */
void worker_run(const struct api_config *, int listen_fd, pid_t parent,
    char *board) __attribute__((noreturn));

/*
 * The text of a numeric constant, so that a sentence quoting a limit is
 * built from the constant that enforces it. The constant must be a plain
 * decimal literal.
 */
#define NUM_TEXT(n)  NUM_TEXT_(n)
#define NUM_TEXT_(n) #n

/*
 * route.c: the route table, one row per page, read by the front line
 * (404, 405 with Allow, 400 for a bad path parameter, then 401) before
 * any handler runs.
 */
#define SCENE_MIN    1 /* the scene numbers of a chapter */
#define SCENE_MAX    10000
#define ALLOW_MAX    64 /* bytes of an Allow: value */

enum page {
	PAGE_SCENE_CREATE,   /* POST .../scenes/{n} */
	PAGE_SCENE_STATUS,   /* GET, HEAD .../scenes/{n}/status */
	PAGE_HEALTHZ,	     /* GET, HEAD /healthz */
	PAGE_RECORD_STATUS,  /* GET, HEAD /api/v1/records/{id} */
	PAGE_SCENE_LIST,     /* GET, HEAD .../chapters/{id}/images/scenes */
	PAGE_RECORD_CANCEL,  /* POST /api/v1/records/{id}/cancel */
	PAGE_RECORD_EVENTS,  /* GET /api/v1/records/{id}/events */
	PAGE_WEBHOOK_SECRET, /* GET, HEAD /api/v1/webhooks/secret */
	PAGE_ADMIN_LOGIN,    /* GET, HEAD, POST /admin/login */
	PAGE_ADMIN_LOGOUT,   /* POST /admin/logout */
	PAGE_ADMIN_HOME,     /* GET, HEAD /admin/ */
	PAGE_ADMIN_RECORDS,  /* GET, HEAD /admin/records */
	PAGE_ADMIN_RECORD,   /* GET, HEAD /admin/records/{id} */
	PAGE_ADMIN_ACT,	     /* POST /admin/records/{id}/act */
	PAGE_ADMIN_BULK,     /* GET (confirm), POST /admin/bulk */
	PAGE_ADMIN_AUDIT,    /* GET, HEAD /admin/audit */
	PAGE__MAX
};

/* The methods a row may allow; Allow: lists them in this order. */
enum method {
	METHOD_GET,
	METHOD_HEAD,
	METHOD_POST,
	METHOD_PUT,
	METHOD_PATCH,
	METHOD_DELETE,
	METHOD__MAX
};

#define METHOD_BIT(m) (1u << (m))

extern const char *const method_names[METHOD__MAX];

/* Who may use a page. */
enum access {
	ACCESS_PUBLIC,	  /* anyone: no token looked at */
	ACCESS_TOKEN,	  /* a valid bearer token (auth.c) */
	ACCESS_SIGNED,	  /* a bearer token, or else a signed events_url */
	ACCESS_ADMIN,	  /* a dashboard session (admin_auth.c), any role;
			  a POST also its CSRF token */
	ACCESS_ADMIN_ACT, /* as ACCESS_ADMIN, the operator role only */
	ACCESS__MAX
};

/* The path parameters a shape may capture, written "{name}" in it. */
enum param {
	PARAM_CHAPTER_ID,   /* a UUID */
	PARAM_SCENE_NUMBER, /* SCENE_MIN..SCENE_MAX */
	PARAM_RECORD_ID,    /* a UUID */
	PARAM__MAX
};

enum param_kind {
	PARAM_UUID, /* any case; kept in lower case */
	PARAM_INT,  /* decimal digits, min..max */
	PARAM_KIND__MAX
};

struct param_rule {
	const char     *name; /* in a shape and in a 400 */
	enum param_kind kind;
	long		min; /* PARAM_INT only */
	long		max;
	const char     *reason; /* the 400 sentence: "must be ..." */
};

extern const struct param_rule param_rules[PARAM__MAX];

struct request;

/*
 * A row of the route table. shape is the path, literal but for whole
 * segments "{param}"; methods are METHOD_BIT()s (HEAD is listed where
 * it is allowed); handler answers the request once the front line has
 * let it through; query says which query parameters the page takes
 * (query.c): 0 for the pages of version 1, which never looked at the
 * query string, else QUERY_CHECKED and the QUERY_BIT()s it takes (any
 * other parameter is a 400).
 */
struct page_route {
	const char  *name;
	const char  *shape;
	unsigned int methods;
	enum access  access;
	void (*handler)(struct request *);
	unsigned int query;
};

extern const struct page_route page_routes[PAGE__MAX];

enum route_result {
	ROUTE_OK,
	ROUTE_NOT_FOUND, /* 404 */
	ROUTE_METHOD,	 /* 405, allow set */
	ROUTE_BAD_PARAM, /* 400 invalid_field, bad names the param */
	ROUTE__MAX
};

/* What route_match() found; captures are indexed by enum param. */
struct route {
	enum page  page;	     /* PAGE__MAX: none */
	enum param bad;		     /* ROUTE_BAD_PARAM */
	char	   allow[ALLOW_MAX]; /* ROUTE_METHOD */
	char	   uuid[PARAM__MAX][UUID_STR_LEN + 1];
	long	   number[PARAM__MAX];
	int	   head; /* HEAD: no body */
};

enum route_result route_match(const char *method, const char *uri,
    struct route *);
const char	 *route_table_check(void);

/*
 * query.c: the query string of the pages that take one, parsed strictly
 * before authentication: unknown, repeated or malformed parameters and
 * bad values are a 400 naming the parameter.
 */
#define QUERY_MAX	   1024 /* bytes of a query string */
#define QUERY_VALUE_MAX	   256	/* bytes of one value, decoded */
#define LIST_LIMIT_MAX	   200	/* ?limit= of a listing */
#define LIST_LIMIT_DEFAULT 100

/* The status words of a record, in the order the API lists them. */
enum record_status {
	RECORD_PENDING,
	RECORD_IN_PROGRESS,
	RECORD_COMPLETED,
	RECORD_FAILED,
	RECORD_CANCELED,
	RECORD__MAX
};

extern const char *const record_status_names[RECORD__MAX];

enum qparam {
	QPARAM_STATUS,	  /* ?status=a,b: record status words */
	QPARAM_LIMIT,	  /* ?limit=1..LIST_LIMIT_MAX */
	QPARAM_CURSOR,	  /* ?cursor=: base64url, checked by its page */
	QPARAM_EXPIRES,	  /* ?expires=: Unix seconds (events_url) */
	QPARAM_SIGNATURE, /* ?signature=: base64url (events_url) */
	QPARAM__MAX
};

#define QUERY_BIT(q)  (1u << (q))
#define CURSOR_REASON "must be the next_cursor of an earlier answer"
#define QUERY_CHECKED (1u << QPARAM__MAX) /* the page refuses the rest */

/* A parsed query string; a parameter not given is zero. */
struct query {
	unsigned int given;    /* QUERY_BIT()s */
	unsigned int statuses; /* 1u << enum record_status */
	long	     limit;
	char	     cursor[QUERY_VALUE_MAX + 1];
	char	     expires[20];
	char	     signature[64];
	char	     bad[33]; /* an unknown parameter's name, for the 400 */
};

struct field_error;
int query_parse(const char *uri, unsigned int rule, struct query *,
    struct field_error *);

/* db.c: one PostgreSQL connection per worker, prepared statements. */
enum stmt {
	STMT_SCENE_INSERT,
	STMT_IDEM_LOOKUP,
	STMT_IDEM_CLEAR,
	STMT_SCENE_STATUS,
	STMT_RECORD_STATUS,
	STMT_SCENE_LIST,
	STMT_RECORD_CANCEL,
	STMT_RECORD_SIGNED,
	STMT_RECORD_LOCKED,
	STMT_BEGIN,
	STMT_COMMIT,
	STMT_ROLLBACK,
	STMT_PING,
	STMT_ADMIN_TIERS,
	STMT_ADMIN_HOLDERS,
	STMT_ADMIN_HOUR,
	STMT_ADMIN_CLASSES,
	STMT_ADMIN_LIST,
	STMT_ADMIN_COUNT,
	STMT_ADMIN_RECORD,
	STMT_ADMIN_DELIVERIES,
	STMT_ADMIN_ALLOW_RESET,
	STMT_ADMIN_RETRY,
	STMT_ADMIN_CANCEL,
	STMT_ADMIN_AUDIT_ADD,
	STMT_ADMIN_AUDIT_LIST,
	STMT__MAX
};

enum db_result {
	DB_OK,
	DB_UNAVAILABLE, /* server down or unreachable: 503 */
	DB_ERROR,	/* the statement failed: 500 */
	DB_DUPLICATE,	/* unique violation after a reconnect */
	DB__MAX
};

struct db {
	const char *url;
	PGconn	   *conn; /* NULL until first use */
};

void	       db_init(struct db *, const char *url);
enum db_result db_exec(struct db *, enum stmt, const char *const *values,
    int nvalues, PGresult **);
void	       db_close(struct db *);
int	       db_in_transaction(const struct db *);
long	       db_long(const PGresult *, int row, int col);
const char    *db_text(const PGresult *, int row, int col);

/* queue.c: one synchronous Redis connection per worker. */
struct queue_stats {
	long   depth;	 /* jobs waiting or running, ours too */
	long   capacity; /* daemons' concurrent generations */
	double avg_ms;	 /* recent average generation time */
	int    have_depth;
	int    have_capacity;
	int    have_avg;
};

enum rate_result {
	RATE_OK,
	RATE_LIMITED,
	RATE_UNKNOWN, /* Redis unavailable: let it through */
	RATE__MAX
};

struct queue {
	struct redis_endpoint ep;
	redisContext	     *ctx; /* NULL until first use */
};

int queue_init(struct queue *, const char *url, char *err, size_t);
int queue_push_job(struct queue *, const char *record_id, const char *tier,
    const char *user, struct queue_stats *);
int queue_read_stats(struct queue *, struct queue_stats *);
int queue_place(struct queue *, const char *record_id, const char *tier,
    const char *user, struct queue_stats *);
int queue_ping(struct queue *);
int queue_read_slots(struct queue *, long *used, long *limit);
enum rate_result queue_rate_check(struct queue *, const char *user, long limit,
    long *retry_after);
void		 queue_close(struct queue *);

/* The answer of the admission check (lib/dispatch.h). */
struct admission {
	int  verdict;	/* 0 admitted, 1 over the rate, 2 too many waiting */
	long remaining; /* POSTs left in the window; -1: no quota */
	long reset;	/* seconds to the window's end */
	long waiting;	/* the user's jobs waiting, when verdict is 2 */
};
int queue_admission(struct queue *, const char *tier, const char *user,
    const struct tier_rate *rate, long max_waiting, struct admission *);

/* admission.c: the admission limits of a POST (rates: config.c). */
/* 0: admitted; -1: refused, the 429 is sent. */
int admission_check(struct request *);

/* estimate.c */
long estimate_seconds(const struct queue_stats *, long fallback);

/* auth.c: Supabase access tokens (HS256 JWT). */
struct auth_user {
	char sub[UUID_STR_LEN + 1]; /* lower case */
	char tier[TIER_MAX + 1];
};

enum auth_result {
	AUTH_OK,
	AUTH_MISSING, /* no bearer token at all */
	AUTH_INVALID, /* a token that does not pass */
	AUTH_NOMEM,
	AUTH__MAX
};

enum auth_result auth_bearer(const struct api_config *, const char *header,
    time_t now, struct auth_user *, const char **reason);
enum auth_result auth_verify_jwt(const struct api_config *, const char *token,
    size_t len, time_t now, struct auth_user *, const char **reason);

/* reply.c: every answer; one table of errors. */
enum api_error {
	ERR_NOT_FOUND,
	ERR_CHAPTER_NOT_FOUND,
	ERR_RECORD_NOT_FOUND,
	ERR_RECORD_UNKNOWN,
	ERR_METHOD_NOT_ALLOWED,
	ERR_INVALID_JSON,
	ERR_BODY_REQUIRED,
	ERR_BODY_INCOMPLETE,
	ERR_INVALID_FIELD,
	ERR_UNAUTHORIZED,
	ERR_PAYLOAD_TOO_LARGE,
	ERR_UNSUPPORTED_MEDIA_TYPE,
	ERR_RATE_LIMITED,
	ERR_ALREADY_FINAL,
	ERR_NOT_ACCEPTABLE,
	ERR_EVENTS_OFF,
	ERR_UNAVAILABLE,
	ERR_INTERNAL,
	ERR__MAX
};

/* syntax.c: strict JSON (RFC 8259) and UTF-8 checks. */
int syntax_json_ok(const char *, size_t);
int utf8_valid(const char *, size_t);

/* validate.c: the POST body. */
#define IDEMPOTENCY_KEY_MAX 128 /* printable ASCII bytes of a key */

struct scene_input {
	char *description; /* trimmed; owned */
	char *style;	   /* owned */
	char  aspect_ratio[8];
	char  script_id[UUID_STR_LEN + 1]; /* "" when none */
	char *webhook_url;		   /* owned; NULL when none */
	char  webhook_events[64]; /* a text[] literal; "" the default */
};

struct field_error {
	const char *field; /* NULL: not about one field */
	const char *reason;
};

int  validate_scene_body(const char *body, size_t len, struct scene_input *,
     enum api_error *, struct field_error *);
int  validate_idempotency_key(const char *);
int  validate_content_type(const char *);
void scene_input_free(struct scene_input *);

/* request.c: one FastCGI request. */
struct worker {
	const struct api_config *cfg;
	struct db		 db;
	struct queue		 queue;
};

/*
 * admin_form.c: the fields of the dashboard's forms and query strings
 * (application/x-www-form-urlencoded), each at most once; empty is not
 * given.
 */
enum admin_field {
	AF_STATUS,   /* a record status word */
	AF_CLASS,    /* an error class, as the overview lists it */
	AF_USER,     /* a UUID */
	AF_CHAPTER,  /* a UUID */
	AF_ACTION,   /* retry or cancel */
	AF_EXPECTED, /* the count the operator confirmed */
	AF_CSRF,     /* the session's CSRF token */
	AF_TOKEN,    /* the operator token, on the login form */
	AF__MAX
};
#define ADMIN_LIST_MAX	  100	/* records on a listing page */
#define ADMIN_BULK_MAX	  10000 /* records one bulk action may change */
#define ADMIN_BUCKETS	  12	/* five-minute buckets of the chart */
#define ADMIN_CLASS_HOURS 24	/* window of the failures by error class */
#define ADMIN_VALUE_MAX	  256	/* bytes of one value, decoded */
#define ADMIN_FORM_MAX	  4096	/* bytes of a form body or query string */

struct admin_form {
	unsigned int given; /* 1u << enum admin_field */
	char	     v[AF__MAX][ADMIN_VALUE_MAX + 1];
};

extern const char *const admin_field_names[AF__MAX];

/* 0, or -1 with *bad the field (AF__MAX: not a field, or malformed). */
int	    admin_form_parse(const char *s, size_t len, struct admin_form *,
	    enum admin_field *bad);
/* A checked filter: 0, or -1 with *bad the field that does not pass. */
int	    admin_form_check(const struct admin_form *, enum admin_field *bad);
/* The field's value, or NULL when not given. */
const char *admin_form_get(const struct admin_form *, enum admin_field);

/* admin_auth.c: the dashboard's session and CSRF token. */
enum admin_role {
	ADMIN_OPERATOR,
	ADMIN_READONLY,
	ADMIN_ROLE__MAX
};

extern const char *const admin_role_names[ADMIN_ROLE__MAX];

#define ADMIN_FP_LEN   16 /* hex digits of a token's fingerprint */
#define ADMIN_CSRF_LEN 43 /* base64url of an HMAC-SHA256 */

struct admin_session {
	enum admin_role role;
	char		fp[ADMIN_FP_LEN + 1];
	char		csrf[ADMIN_CSRF_LEN + 1];
};

struct request;
int  admin_enabled(const struct api_config *);
/* The front line of ACCESS_ADMIN*: 1 to go on, 0 once answered. */
int  admin_front(struct request *, enum access);
void page_admin_login(struct request *);
void page_admin_logout(struct request *);

struct request {
	struct worker	    *w;
	FCGX_Request	    *fcgx;
	const char	    *method;
	const char	    *uri;
	struct route	     route;
	struct query	     query;
	struct auth_user     user;
	int		     signed_url; /* ACCESS_SIGNED by events_url */
	struct admin_session admin;	 /* ACCESS_ADMIN* */
	struct admin_form    form;	 /* ACCESS_ADMIN*: query and body */
	struct buf	     body;
	int		     token_given; /* for WWW-Authenticate */
	long		     retry_after; /* 0: no Retry-After */
	char	limit_headers[256];	  /* RateLimit-Policy, RateLimit */
	int	status;			  /* answered, for the log */
	int64_t start_ms;
};

void	    request_init(struct request *, struct worker *, FCGX_Request *);
const char *request_param(const struct request *, const char *);
int	    request_param_count(const struct request *, const char *);
int	    request_read_body(struct request *, enum api_error *);
void	    request_free(struct request *);

void reply_error(struct request *, enum api_error);
void reply_error_detail(struct request *, enum api_error, const char *detail);
void reply_field_error(struct request *, const char *field, const char *reason);
void reply_json(struct request *, int status, const char *cache,
    const char *headers, const struct buf *body);
void reply_typed(struct request *, int status, const char *type,
    const char *cache, const char *headers, const char *body, size_t len);
void reply_not_modified(struct request *, const char *etag);
void reply_json_etag(struct request *, struct json_out *);
void reply_db_failure(struct request *, enum db_result);

/* handlers.c: the front line of defence, then one handler per page. */
void handlers_serve(struct worker *, FCGX_Request *);
void page_scene_create(struct request *);
void page_healthz(struct request *);

/* status.c: the status document and the pages that answer one. */
void status_document(struct request *, const PGresult *, int row,
    struct json_out *);
int  status_find(struct request *, enum stmt, const char *const *values,
     int nvalues, enum api_error missing, PGresult **);
void page_scene_status(struct request *);
void page_record_status(struct request *);

/* listing.c: a chapter's scenes, a page at a time. */
void page_scene_list(struct request *);

/* cancel.c: a record canceled by its owner. */
void page_record_cancel(struct request *);

/* events.c: a record's live status (Server-Sent Events through nchan). */
void page_record_events(struct request *);

/*
 * publish.c: a status document put on the record's nchan channel through
 * the publisher's local socket; a short blocking HTTP/1.0 client.
 */
#define PUBLISH_TIMEOUT_MS 1000
/*
 * A channel's message older than this is published again before a new
 * subscriber is let in: nchan drops messages after a minute
 * (nginx/scenegen-events-publisher.conf), which bounds its shared memory
 * by the records changing per minute, not per hour.
 */
#define PUBLISH_FRESH_S	   30
enum publish_result {
	PUBLISH_OK,	/* stored (2xx), or the channel has a message */
	PUBLISH_EMPTY,	/* publish_peek(): no message, or an old one */
	PUBLISH_FAILED, /* socket, timeout or an unexpected answer */
	PUBLISH__MAX
};
enum publish_result publish_peek(const char *socket_path, const char *id);
enum publish_result publish_document(const char *socket_path, const char *id,
    const char *doc, size_t len);

/* webhook.c: where a webhook may go, and the caller's signing secret. */
int  webhook_check_url(struct request *, const struct scene_input *);
void page_webhook_secret(struct request *);

/*
 * admin_html.c: the dashboard's HTML: every value escaped, one frame
 * per page, answers and error pages.
 */
void hput(struct buf *, const char *);
void hprintf(struct buf *, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void html_text(struct buf *, const char *);
void html_url_value(struct buf *, const char *);
void admin_page_open(struct buf *, const struct request *, const char *title);
void admin_page_close(struct buf *);
void admin_reply_page(struct request *, int status, struct buf *);
void admin_reply_error(struct request *, int status, const char *message);
void admin_filter_query(struct buf *, const struct admin_form *);
void admin_filter_inputs(struct buf *, const struct admin_form *);

/* admin_view.c: the pages that show. */
void page_admin_home(struct request *);
void page_admin_records(struct request *);
void page_admin_record(struct request *);
void page_admin_audit(struct request *);

/* admin_act.c: the pages that act (retry, cancel), each audited. */
void page_admin_act(struct request *);
void page_admin_bulk(struct request *);

#endif
