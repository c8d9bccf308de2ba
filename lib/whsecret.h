/*
 * Webhook signing (Standard Webhooks 1.0): a user's secret, derived
 * rather than stored, and the signature of one delivery. The secret is
 * HMAC-SHA256(SUPABASE_JWT_SECRET, "scenegen webhook v1:" + user id), so
 * the API (which shows it) and the daemon (which signs with it) agree
 * without a new setting; rotating the JWT secret rotates every webhook
 * secret.
 */
#ifndef SCENEGEN_WHSECRET_H
#define SCENEGEN_WHSECRET_H

#include <stddef.h>

#define WHSECRET_KEY_LEN  32	   /* bytes of a signing key */
#define WHSECRET_TEXT_LEN (6 + 44) /* "whsec_" + base64 of 32 bytes */
/* "v1," + base64 of a SHA-256 HMAC. */
#define WHSECRET_SIG_LEN  (3 + 44)

/*
 * The signing key of user (a UUID in text) under jwt_secret into key.
 * -1 when HMAC fails (out of memory).
 */
int whsecret_key(const char *jwt_secret, const char *user,
    unsigned char key[WHSECRET_KEY_LEN]);
/* The secret as the user sees it, "whsec_<base64>", into out. -1 if HMAC fails. */
int whsecret_text(const char *jwt_secret, const char *user,
    char out[WHSECRET_TEXT_LEN + 1]);
/*
 * The webhook-signature value "v1,<base64>" of msg_id, timestamp and
 * body (len bytes) under key into out. -1 when HMAC fails.
 */
int whsecret_sign(const unsigned char key[WHSECRET_KEY_LEN], const char *msg_id,
    const char *timestamp, const char *body, size_t len,
    char out[WHSECRET_SIG_LEN + 1]);

#endif
