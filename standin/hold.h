/*
 * hold.h: replies the stand-in sends late, never, or not at all.
 *
 * A held request stays owned by libevent's evhttp; the hold list owns
 * only its timers and watchers, and ends every held request exactly once:
 * by sending its reply, or by closing its connection.
 */
#ifndef STANDIN_HOLD_H
#define STANDIN_HOLD_H

#include <stddef.h>

struct event_base;
struct evhttp_request;

enum hold_kind {
	HOLD_SEND, /* send the prepared reply after the delay */
	HOLD_DROP, /* close the connection, no answer, after the delay */
	HOLD_HANG, /* answer nothing until the client leaves or time out */
	HOLD__MAX
};

struct hold_list;

struct hold_list *hold_list_new(struct event_base *);
void		  hold_list_free(struct hold_list *);
void   hold_reply(struct hold_list *, struct evhttp_request *, enum hold_kind,
      int, const char *, double);
size_t hold_count(const struct hold_list *);

#endif /* STANDIN_HOLD_H */
