/*
 * The dashboard's HTML. Every value from the database or the request
 * goes through html_text() (or html_url_value() inside a URL); pages are
 * built in a capped buffer, and an append that fails poisons it (max 0),
 * so that admin_reply_page() answers 500 rather than half a page. The
 * pages work without scripts and carry none: the Content-Security-Policy
 * allows no script at all.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "extern.h"

#define ADMIN_HEADERS \
	"Content-Security-Policy: default-src 'none'; " \
	"style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; " \
	"frame-ancestors 'none'; base-uri 'none'\r\n" \
	"X-Frame-Options: DENY\r\n" \
	"Referrer-Policy: same-origin\r\n"

static const char admin_style[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222}"
    "header{background:#233;color:#fff;padding:8px 16px;display:flex;"
    "gap:16px;align-items:center}"
    "header a{color:#fff}header form{margin-left:auto}"
    "main{padding:8px 16px}"
    "table{border-collapse:collapse;margin:8px 0}"
    "td,th{border:1px solid #ccc;padding:3px 6px;text-align:left;"
    "vertical-align:top}"
    "th{background:#eee}.num{text-align:right}"
    ".err{color:#a00}.ok{color:#060}"
    "form.inline{display:inline}"
    "code{font-size:12px}";

/* Mark b failed: every later append fails, the reply is a 500. */
static void
page_poison(struct buf *b)
{
	b->max = 0;
}

/* Append s to the page. */
void
hput(struct buf *b, const char *s)
{
	if (buf_append_str(b, s) == -1)
		page_poison(b);
}

/* Append a formatted string (never a value to escape) to the page. */
void
hprintf(struct buf *b, const char *fmt, ...)
{
	char	buf[512];
	va_list ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf)) {
		page_poison(b);
		return;
	}
	hput(b, buf);
}

/* Append s (NULL: nothing) as HTML text or a quoted attribute value. */
void
html_text(struct buf *b, const char *s)
{
	const char *rep;
	size_t	    run;

	if (s == NULL)
		return;
	while (*s != '\0') {
		run = strcspn(s, "&<>\"'");
		if (run > 0 && buf_append(b, s, run) == -1) {
			page_poison(b);
			return;
		}
		s += run;
		if (*s == '\0')
			break;
		switch (*s) {
		case '&':
			rep = "&amp;";
			break;
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '"':
			rep = "&quot;";
			break;
		default:
			rep = "&#39;";
			break;
		}
		hput(b, rep);
		s++;
	}
}

/* Append s percent-encoded for a query string (all but unreserved). */
void
html_url_value(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char		  e[3];

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~') {
			if (buf_append(b, s, 1) == -1)
				page_poison(b);
			continue;
		}
		e[0] = '%';
		e[1] = hex[c >> 4];
		e[2] = hex[c & 15];
		if (buf_append(b, e, 3) == -1)
			page_poison(b);
	}
}

/*
 * The filter fields of form given: each after "&amp;" for a query
 * string, or as a hidden input when inputs is set.
 */
static void
filter_fields(struct buf *b, const struct admin_form *form, int inputs)
{
	static const enum admin_field f[] = { AF_STATUS, AF_CLASS, AF_USER,
		AF_CHAPTER };
	size_t			      i;

	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		if (admin_form_get(form, f[i]) == NULL)
			continue;
		if (inputs) {
			hprintf(b,
			    "<input type=\"hidden\" name=\"%s\" value=\"",
			    admin_field_names[f[i]]);
			html_text(b, form->v[f[i]]);
			hput(b, "\">\n");
		} else {
			hput(b, "&amp;");
			hput(b, admin_field_names[f[i]]);
			hput(b, "=");
			html_url_value(b, form->v[f[i]]);
		}
	}
}

/* The filter fields of form for a query string, each after "&amp;". */
void
admin_filter_query(struct buf *b, const struct admin_form *form)
{
	filter_fields(b, form, 0);
}

/* The filter fields of form as hidden inputs. */
void
admin_filter_inputs(struct buf *b, const struct admin_form *form)
{
	filter_fields(b, form, 1);
}

/*
 * The page's head and navigation; req NULL for a page without a
 * session (the login form, errors before one).
 */
void
admin_page_open(struct buf *b, const struct request *req, const char *title)
{
	hput(b,
	    "<!DOCTYPE html>\n<html lang=\"en\"><head>"
	    "<meta charset=\"utf-8\"><meta name=\"viewport\" "
	    "content=\"width=device-width\"><title>");
	html_text(b, title);
	hput(b, " - scenegen</title><style>");
	hput(b, admin_style);
	hput(b, "</style></head><body>\n<header><b>scenegen</b>");
	if (req != NULL && req->admin.fp[0] != '\0') {
		hput(b,
		    "<a href=\"/admin/\">Overview</a>"
		    "<a href=\"/admin/records\">Records</a>"
		    "<a href=\"/admin/audit\">Audit</a>"
		    "<form method=\"post\" action=\"/admin/logout\">");
		hprintf(b, "%s %s ", admin_role_names[req->admin.role],
		    req->admin.fp);
		hput(b, "<input type=\"hidden\" name=\"csrf\" value=\"");
		html_text(b, req->admin.csrf);
		hput(b, "\"><button type=\"submit\">Log out</button></form>");
	}
	hput(b, "</header>\n<main>\n<h1>");
	html_text(b, title);
	hput(b, "</h1>\n");
}

void
admin_page_close(struct buf *b)
{
	hput(b, "</main></body></html>\n");
}

/* Answer the page b with status; 500 if it could not be built whole. */
void
admin_reply_page(struct request *req, int status, struct buf *b)
{
	if (b->max == 0 || b->data == NULL) {
		reply_typed(req, 500, "text/plain; charset=utf-8", "no-store",
		    NULL, "The page could not be built.\n",
		    strlen("The page could not be built.\n"));
		return;
	}
	reply_typed(req, status, "text/html; charset=utf-8", "no-store",
	    ADMIN_HEADERS, b->data, b->len);
}

/* An HTML error page: status and one sentence, a link back. */
void
admin_reply_error(struct request *req, int status, const char *message)
{
	struct buf b;

	buf_init(&b, 16 * 1024);
	admin_page_open(&b, NULL, status >= 500 ? "Error" : "Refused");
	hput(&b, "<p class=\"err\">");
	html_text(&b, message);
	hprintf(&b,
	    " (HTTP %d)</p>\n<p><a href=\"/admin/\">Back to the "
	    "dashboard</a></p>\n",
	    status);
	admin_page_close(&b);
	admin_reply_page(req, status, &b);
	buf_free(&b);
}
