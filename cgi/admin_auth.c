/*
 * Who may use the dashboard (scenegen-api(8), "Dashboard"). An operator
 * types a token of SCENEGEN_ADMIN_TOKEN (role operator) or
 * SCENEGEN_ADMIN_READONLY_TOKEN (role readonly) into the login form and
 * gets a session cookie: "<role>.<expires>.<mac>", the mac an
 * HMAC-SHA256 under a key derived from that role's token, so changing a
 * token ends its sessions. Nothing is stored on the server. Every POST
 * of a logged-in page carries a CSRF token, an HMAC of the cookie under
 * the same key. The cookie is HttpOnly, SameSite=Strict, limited to
 * /admin/, expiring (SCENEGEN_ADMIN_SESSION_SECONDS), and Secure unless
 * the request came over plain HTTP from loopback. A user's JWT opens
 * nothing here: Authorization is never looked at.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "base64url.h"
#include "log.h"
#include "extern.h"

#define COOKIE_NAME	  "scenegen_admin"
#define SESSION_KEY_LABEL "scenegen admin session v1"
#define COOKIE_VALUE_MAX  96
#define FORM_CONTENT_TYPE "application/x-www-form-urlencoded"

const char *const admin_role_names[ADMIN_ROLE__MAX] = {
	"operator", /* ADMIN_OPERATOR */
	"readonly", /* ADMIN_READONLY */
};

/* The token of role, or NULL when that role is not configured. */
static const char *
admin_token_of(const struct api_config *c, enum admin_role role)
{
	return role == ADMIN_OPERATOR ? c->admin_token :
					c->admin_readonly_token;
}

/* 1 when a token of either role is set: /admin/ answers at all. */
int
admin_enabled(const struct api_config *c)
{
	return c->admin_token != NULL || c->admin_readonly_token != NULL;
}

/* HMAC-SHA256 of msg under the session key of token, base64url in out. */
static int
admin_mac(const char *token, const char *msg, char out[ADMIN_CSRF_LEN + 1])
{
	unsigned char key[EVP_MAX_MD_SIZE], mac[EVP_MAX_MD_SIZE];
	unsigned int  klen = 0, mlen = 0;
	int	      rc = -1;

	if (HMAC(EVP_sha256(), token, (int)strlen(token),
		(const unsigned char *)SESSION_KEY_LABEL,
		strlen(SESSION_KEY_LABEL), key, &klen) == NULL)
		goto fail;
	if (HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg,
		strlen(msg), mac, &mlen) == NULL)
		goto fail;
	if (b64url_encode(mac, mlen, out, ADMIN_CSRF_LEN + 1) != ADMIN_CSRF_LEN)
		goto fail;
	rc = 0;
fail:
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

/* The first ADMIN_FP_LEN hex digits of the SHA-256 of token. */
static int
admin_fingerprint(const char *token, char out[ADMIN_FP_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int  n = 0, i;

	if (EVP_Digest(token, strlen(token), md, &n, EVP_sha256(), NULL) != 1)
		return -1;
	for (i = 0; i < ADMIN_FP_LEN / 2; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	out[ADMIN_FP_LEN] = '\0';
	return 0;
}

/* Fill s (fingerprint, CSRF token) for a valid cookie value of role. */
static int
admin_session_fill(const struct api_config *c, enum admin_role role,
    const char *value, struct admin_session *s)
{
	char msg[COOKIE_VALUE_MAX + 8];

	s->role = role;
	snprintf(msg, sizeof(msg), "csrf.%s", value);
	if (admin_fingerprint(admin_token_of(c, role), s->fp) == -1 ||
	    admin_mac(admin_token_of(c, role), msg, s->csrf) == -1)
		return -1;
	return 0;
}

/*
 * Check one cookie value (len bytes): a role whose token is set, an
 * expiry in the future and not further than one session away, a mac
 * that matches. 0 with s filled, else -1.
 */
static int
admin_cookie_check(const struct api_config *c, const char *v, size_t len,
    time_t now, struct admin_session *s)
{
	char		value[COOKIE_VALUE_MAX + 1], mac[ADMIN_CSRF_LEN + 1];
	char	       *dot, *end;
	enum admin_role role;
	long long	expires;

	if (len < 4 || len > COOKIE_VALUE_MAX)
		return -1;
	memcpy(value, v, len);
	value[len] = '\0';
	if (value[0] == 'o')
		role = ADMIN_OPERATOR;
	else if (value[0] == 'r')
		role = ADMIN_READONLY;
	else
		return -1;
	if (value[1] != '.' || admin_token_of(c, role) == NULL)
		return -1;
	if (value[2] < '1' || value[2] > '9')
		return -1;
	expires = strtoll(value + 2, &end, 10);
	if (*end != '.' || expires <= (long long)now ||
	    expires > (long long)now + c->admin_session_seconds)
		return -1;
	dot = end;
	*dot = '\0';
	if (admin_mac(admin_token_of(c, role), value, mac) == -1)
		return -1;
	*dot = '.';
	if (strlen(dot + 1) != ADMIN_CSRF_LEN ||
	    CRYPTO_memcmp(mac, dot + 1, ADMIN_CSRF_LEN) != 0)
		return -1;
	return admin_session_fill(c, role, value, s);
}

/* Find a valid session cookie in the Cookie header; 0 when found. */
static int
admin_session_find(struct request *req, struct admin_session *s)
{
	const char *h = request_param(req, "HTTP_COOKIE"), *p, *v;
	size_t	    n = strlen(COOKIE_NAME), len;

	if (h == NULL)
		return -1;
	for (p = h; *p != '\0';) {
		p += strspn(p, " ;,");
		len = strcspn(p, ";,");
		if (len > n && strncmp(p, COOKIE_NAME "=", n + 1) == 0) {
			v = p + n + 1;
			if (admin_cookie_check(req->w->cfg, v, len - n - 1,
				time(NULL), s) == 0)
				return 0;
		}
		p += len;
	}
	return -1;
}

/* 1 when the request came over plain HTTP from this host. */
static int
admin_loopback(const struct request *req)
{
	const char *https = request_param(req, "HTTPS");
	const char *addr = request_param(req, "REMOTE_ADDR");

	if (https != NULL && strcmp(https, "on") == 0)
		return 0;
	return addr != NULL &&
	    (strncmp(addr, "127.", 4) == 0 || strcmp(addr, "::1") == 0);
}

/* The Set-Cookie line (CRLF-ended) for value, max_age 0 to clear it. */
static void
admin_cookie_header(const struct request *req, const char *value, long max_age,
    char *out, size_t len)
{
	snprintf(out, len,
	    "Set-Cookie: " COOKIE_NAME "=%s; Path=/admin/; Max-Age=%ld; "
	    "HttpOnly; SameSite=Strict%s\r\n",
	    value, max_age, admin_loopback(req) ? "" : "; Secure");
}

/*
 * Read a POST's form body into req->form: 415 unless form-encoded, 400
 * with a query string or a bad field, 413 over ADMIN_FORM_MAX. 0, or -1
 * once answered.
 */
static int
admin_read_form(struct request *req)
{
	const char	*type = request_param(req, "CONTENT_TYPE");
	enum api_error	 e;
	enum admin_field bad;
	char		 msg[96];
	size_t		 n = strlen(FORM_CONTENT_TYPE);

	if (strchr(req->uri, '?') != NULL) {
		admin_reply_error(req, 400,
		    "A form is posted without a query "
		    "string.");
		return -1;
	}
	if (type == NULL || strncmp(type, FORM_CONTENT_TYPE, n) != 0 ||
	    (type[n] != '\0' && type[n] != ';')) {
		admin_reply_error(req, 415,
		    "The form must be " FORM_CONTENT_TYPE ".");
		return -1;
	}
	if (request_read_body(req, &e) == -1 && e != ERR_BODY_REQUIRED) {
		admin_reply_error(req,
		    e == ERR_INTERNAL		   ? 500 :
			e == ERR_PAYLOAD_TOO_LARGE ? 413 :
						     400,
		    "The form could not be read.");
		return -1;
	}
	if (req->body.len > ADMIN_FORM_MAX) {
		admin_reply_error(req, 413, "The form is too large.");
		return -1;
	}
	if (admin_form_parse(req->body.data != NULL ? req->body.data : "",
		req->body.len, &req->form, &bad) == -1) {
		snprintf(msg, sizeof(msg), "The form field %s is not valid.",
		    bad < AF__MAX ? admin_field_names[bad] : "name");
		admin_reply_error(req, 400, msg);
		return -1;
	}
	return 0;
}

/* Parse the query string of a GET into req->form; -1 once answered. */
static int
admin_read_query(struct request *req)
{
	const char	*q = strchr(req->uri, '?');
	enum admin_field bad;
	char		 msg[96];

	if (admin_form_parse(q != NULL ? q + 1 : "",
		q != NULL ? strlen(q + 1) : 0, &req->form, &bad) == -1) {
		snprintf(msg, sizeof(msg),
		    "The query parameter %s is not "
		    "valid.",
		    bad < AF__MAX ? admin_field_names[bad] : "name");
		admin_reply_error(req, 400, msg);
		return -1;
	}
	return 0;
}

/*
 * The front line of the dashboard's pages: 404 when no token is set;
 * a session (a GET without one is sent to the login form, 303; a POST
 * 401); the form (query or body) read and checked (400, 413, 415); on a
 * POST the CSRF token (403); ACCESS_ADMIN_ACT the operator role (403).
 */
int
admin_front(struct request *req, enum access access)
{
	enum admin_field bad;
	const char	*csrf;
	char		 msg[96];
	int		 post = strcmp(req->method, "POST") == 0;

	if (!admin_enabled(req->w->cfg)) {
		reply_error(req, ERR_NOT_FOUND);
		return 0;
	}
	if (admin_session_find(req, &req->admin) == -1) {
		if (!post) {
			reply_typed(req, 303, "text/plain; charset=utf-8",
			    "no-store", "Location: /admin/login\r\n",
			    "Log in first: /admin/login\n",
			    strlen("Log in first: /admin/login\n"));
			return 0;
		}
		admin_reply_error(req, 401, "Log in first.");
		return 0;
	}
	if ((post ? admin_read_form(req) : admin_read_query(req)) == -1)
		return 0;
	if (admin_form_check(&req->form, &bad) == -1) {
		snprintf(msg, sizeof(msg), "The field %s is not valid.",
		    admin_field_names[bad]);
		admin_reply_error(req, 400, msg);
		return 0;
	}
	if (post) {
		csrf = admin_form_get(&req->form, AF_CSRF);
		if (csrf == NULL || strlen(csrf) != ADMIN_CSRF_LEN ||
		    CRYPTO_memcmp(csrf, req->admin.csrf, ADMIN_CSRF_LEN) != 0) {
			log_info("dashboard: %s refused: no valid CSRF token",
			    page_routes[req->route.page].name);
			admin_reply_error(req, 403,
			    "The form's CSRF token is missing or not this "
			    "session's: reload the page and try again.");
			return 0;
		}
	}
	if (access == ACCESS_ADMIN_ACT && req->admin.role != ADMIN_OPERATOR) {
		log_info("dashboard: %s refused to a read-only operator (%s)",
		    page_routes[req->route.page].name, req->admin.fp);
		admin_reply_error(req, 403,
		    "A read-only operator cannot act on records.");
		return 0;
	}
	return 1;
}

/* The login form, with message (NULL: none) above it. */
static void
admin_login_form(struct request *req, int status, const char *message)
{
	struct buf b;

	buf_init(&b, 64 * 1024);
	admin_page_open(&b, NULL, "Log in");
	if (message != NULL) {
		buf_append_str(&b, "<p class=\"err\">");
		html_text(&b, message);
		buf_append_str(&b, "</p>\n");
	}
	buf_append_str(&b,
	    "<form method=\"post\" action=\"/admin/login\">\n"
	    "<label>Operator token <input type=\"password\" name=\"token\" "
	    "id=\"token\" autocomplete=\"current-password\" required "
	    "autofocus></label>\n"
	    "<button type=\"submit\" id=\"login\">Log in</button>\n</form>\n");
	admin_page_close(&b);
	admin_reply_page(req, status, &b);
	buf_free(&b);
}

/*
 * 1 when the Origin header, if sent, names this host (the host part of
 * Host; the port is not compared, as nginx may pass Host without it).
 */
static int
admin_same_origin(const struct request *req)
{
	const char *origin = request_param(req, "HTTP_ORIGIN");
	const char *host = request_param(req, "HTTP_HOST");
	const char *p;
	size_t	    olen, hlen;

	if (origin == NULL)
		return 1;
	p = strstr(origin, "://");
	if (p == NULL || host == NULL)
		return 0;
	p += 3;
	olen = p[0] == '[' ? strcspn(p, "]") + 1 : strcspn(p, ":/");
	hlen = host[0] == '[' ? strcspn(host, "]") + 1 : strcspn(host, ":");
	return olen == hlen && strncasecmp(p, host, olen) == 0;
}

/*
 * GET, HEAD, POST /admin/login (no session needed)
 * GET: 200 the form. POST: 303 to /admin/ with the session cookie; 401
 * the form again for a wrong token; 400, 413, 415 a bad form; 403 a
 * cross-site Origin. 404 when the dashboard is off.
 */
void
page_admin_login(struct request *req)
{
	struct admin_session s;
	const char	    *token;
	char		value[COOKIE_VALUE_MAX + 1], mac[ADMIN_CSRF_LEN + 1];
	char		h[256];
	enum admin_role role;
	long long	expires;

	if (!admin_enabled(req->w->cfg)) {
		reply_error(req, ERR_NOT_FOUND);
		return;
	}
	if (strcmp(req->method, "POST") != 0) {
		admin_login_form(req, 200, NULL);
		return;
	}
	if (!admin_same_origin(req)) {
		log_notice("dashboard: a login from another site: Origin "
			   "%.100s, Host %.100s",
		    request_param(req, "HTTP_ORIGIN"),
		    request_param(req, "HTTP_HOST") != NULL ?
			request_param(req, "HTTP_HOST") :
			"-");
		admin_reply_error(req, 403, "A login from another site.");
		return;
	}
	if (admin_read_form(req) == -1)
		return;
	token = admin_form_get(&req->form, AF_TOKEN);
	for (role = 0; token != NULL && role < ADMIN_ROLE__MAX; role++) {
		const char *want = admin_token_of(req->w->cfg, role);

		if (want != NULL && strlen(want) == strlen(token) &&
		    CRYPTO_memcmp(want, token, strlen(want)) == 0)
			break;
	}
	OPENSSL_cleanse(req->form.v[AF_TOKEN], sizeof(req->form.v[AF_TOKEN]));
	if (req->body.data != NULL)
		OPENSSL_cleanse(req->body.data, req->body.len);
	if (token == NULL || role == ADMIN_ROLE__MAX) {
		log_notice("dashboard: a wrong token from %.64s",
		    request_param(req, "REMOTE_ADDR") != NULL ?
			request_param(req, "REMOTE_ADDR") :
			"-");
		admin_login_form(req, 401, "That token opens nothing here.");
		return;
	}
	expires = (long long)time(NULL) + req->w->cfg->admin_session_seconds;
	snprintf(value, sizeof(value), "%c.%lld",
	    role == ADMIN_OPERATOR ? 'o' : 'r', expires);
	if (admin_mac(admin_token_of(req->w->cfg, role), value, mac) == -1 ||
	    admin_session_fill(req->w->cfg, role, value, &s) == -1) {
		admin_reply_error(req, 500, "The session could not be made.");
		return;
	}
	snprintf(value + strlen(value), sizeof(value) - strlen(value), ".%s",
	    mac);
	admin_cookie_header(req, value, req->w->cfg->admin_session_seconds, h,
	    sizeof(h));
	if (strlen(h) + sizeof("Location: /admin/\r\n") >= sizeof(h)) {
		admin_reply_error(req, 500, "The session could not be made.");
		return;
	}
	snprintf(h + strlen(h), sizeof(h) - strlen(h), "Location: /admin/\r\n");
	log_notice("dashboard: %s %s logged in", admin_role_names[role], s.fp);
	reply_typed(req, 303, "text/plain; charset=utf-8", "no-store", h,
	    "Logged in: /admin/\n", strlen("Logged in: /admin/\n"));
}

/*
 * POST /admin/logout (a session and its CSRF token)
 * 303 to the login form, the cookie cleared. The session itself stays
 * valid until it expires (nothing is stored): change the token to end
 * every session of a role at once.
 */
void
page_admin_logout(struct request *req)
{
	char h[256];

	admin_cookie_header(req, "", 0, h, sizeof(h));
	snprintf(h + strlen(h), sizeof(h) - strlen(h),
	    "Location: /admin/login\r\n");
	reply_typed(req, 303, "text/plain; charset=utf-8", "no-store", h,
	    "Logged out.\n", strlen("Logged out.\n"));
}
