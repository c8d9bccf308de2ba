/*
 * Completion webhooks, the API's part (SPEC.md, "Completion webhooks"):
 * a POST's webhook_url must lead to a public address, and a caller may
 * read the secret its deliveries are signed with. The deliveries
 * themselves are rows the database writes and scenegend sends.
 */
#include <string.h>

#include "log.h"
#include "netaddr.h"
#include "whsecret.h"
#include "extern.h"

#define RESOLVE_MS 2000 /* time allowed to resolve a webhook's host */

/*
 * Check where in's webhook_url leads (if it has one): 0 when it may be
 * used; -1 after answering 400 invalid_field naming webhook_url (http,
 * a non-public address, a host that does not resolve in time).
 */
int
webhook_check_url(struct request *req, const struct scene_input *in)
{
	const char *reason = NULL;

	if (in->webhook_url == NULL)
		return 0;
	switch (netaddr_check_url(in->webhook_url,
	    req->w->cfg->webhook_allow_private, RESOLVE_MS)) {
	case NETADDR_OK:
		return 0;
	case NETADDR_NOT_HTTPS:
		reason = "must be an https URL";
		break;
	case NETADDR_PRIVATE:
		reason = "must not lead to a loopback, private, link-local "
			 "or other non-public address";
		break;
	case NETADDR_UNRESOLVED:
		reason = "must have a host name that resolves";
		break;
	default:
		reason = "must be an absolute https URL of at most " NUM_TEXT(
		    WEBHOOK_URL_MAX) " bytes";
		break;
	}
	reply_field_error(req, "webhook_url", reason);
	return -1;
}

/*
 * GET, HEAD /api/v1/webhooks/secret
 * 200 {"secret": "whsec_..."}: the key the caller's deliveries are
 * signed with, derived from SUPABASE_JWT_SECRET and the caller's id
 * (lib/whsecret.h), so the same after any restart; 400 invalid_field
 * (any query parameter); 401; 500 internal_error.
 */
void
page_webhook_secret(struct request *req)
{
	struct json_out j;
	char		secret[WHSECRET_TEXT_LEN + 1];

	if (whsecret_text(req->w->cfg->jwt_secret, req->user.sub, secret) ==
	    -1) {
		log_err("HMAC failed deriving a webhook secret");
		reply_error(req, ERR_INTERNAL);
		return;
	}
	json_open(&j);
	json_string(&j, "secret", secret);
	explicit_bzero(secret, sizeof(secret));
	if (json_close(&j) == -1) {
		log_err("out of memory writing a webhook secret");
		reply_error(req, ERR_INTERNAL);
	} else
		reply_json(req, 200, "no-store", NULL, &j.b);
	if (j.b.data != NULL)
		explicit_bzero(j.b.data, j.b.len);
	json_free(&j);
}
