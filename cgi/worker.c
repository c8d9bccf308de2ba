/*
 * One worker process: wait for a connection on the shared listening
 * socket, serve the request, repeat. SIGTERM and SIGINT are blocked
 * except inside ppoll(), so a request in hand is always finished (no
 * libpq or hiredis call is ever interrupted) and a worker waiting for
 * work stops at once.
 *
 * Kept connections (nginx's fastcgi_keep_conn on): when a request came
 * with FCGI_KEEP_CONN, libfcgi leaves its connection open after
 * FCGX_Finish_r and FCGX_Accept_r would block reading the next request
 * from it, pinning the worker to an idle connection while new ones wait
 * in the listening socket's backlog. So the worker never blocks there:
 * between requests it polls the kept connection and the listening socket
 * together: it holds up to SCENEGEN_API_KEEP_MAX connections at once,
 * serves the requests that arrive on them in turn and accepts new
 * connections beside them, so that idle kept connections never keep a
 * new one waiting. A held connection idle for SCENEGEN_API_KEEP_IDLE_MS
 * is closed (nginx's own keepalive_timeout, shorter, normally closes it
 * first). Only when every slot is taken and a new connection waits that
 * no other worker took within KEEP_GRACE_MS does the worker close the
 * connection idle the longest (at least KEEP_YIELD_MS), after checking
 * that nothing has arrived on it (recv MSG_PEEK). Closing a kept
 * connection nginx still holds races with nginx sending the next request
 * on it, so the default SCENEGEN_API_KEEP_MAX is far above the
 * connections nginx opens: README.md, "Kept connections", says what
 * nginx does then.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "extern.h"

#define KEEP_GRACE_MS  2  /* a free worker's head start on a new connection */
#define KEEP_YIELD_MS  20 /* idle this long, a kept one gives way to it */
#define KEEP_DRAIN_MAX 65536 /* more unread request body: close, not keep */

/* A connection the worker holds between requests (ipcFd -1: free). */
struct held {
	FCGX_Request req;
	int64_t	     idle_since;
};

/* The connections a worker holds, and one round's poll of them. */
struct keep {
	struct held   *h;    /* max entries */
	struct held  **slot; /* the held ones, in the order of pfd */
	struct pollfd *pfd;  /* max + 1: the held ones, then the listener */
	size_t	       max;
	size_t	       top; /* slots from top on are free (loops stop there) */
};

enum keep_peek {
	KEEP_IDLE,   /* nothing arrived */
	KEEP_DATA,   /* a request (or part of one) waits */
	KEEP_CLOSED, /* the peer closed it, or it failed */
};

static volatile sig_atomic_t worker_stop;

static void
worker_on_signal(int sig)
{
	(void)sig;
	worker_stop = 1;
}

/* Signal dispositions of a worker; waitmask is the mask for ppoll(). */
static void
worker_signals(sigset_t *waitmask)
{
	struct sigaction sa;
	sigset_t	 block;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = worker_on_signal; /* no SA_RESTART */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &sa, NULL);

	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, waitmask);
	sigdelset(waitmask, SIGTERM);
	sigdelset(waitmask, SIGINT);
}

/* What waits on connection fd, without reading it or blocking. */
static enum keep_peek
worker_peek(int fd)
{
	char	c;
	ssize_t n;

	n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n > 0)
		return KEEP_DATA;
	if (n == -1 &&
	    (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return KEEP_IDLE;
	return KEEP_CLOSED;
}

/*
 * Close the idle connection req holds, at once: no shutdown and wait for
 * the peer's end as libfcgi's own close does, since nothing is owed.
 */
static void
worker_drop(FCGX_Request *req)
{
	FCGX_Free(req, 0);
	if (req->ipcFd != -1 && close(req->ipcFd) == -1)
		log_warn("close kept connection: %s", strerror(errno));
	req->ipcFd = -1;
	req->keepConnection = 0;
}

/*
 * Read what is left of the request body, so that the kept connection is
 * positioned at the next request's first record (libfcgi takes any
 * other record there for a protocol error). Returns -1 when more than
 * KEEP_DRAIN_MAX bytes were left or the stream failed: close instead.
 */
static int
worker_drain(FCGX_Request *req)
{
	char   buf[4096];
	size_t total = 0;
	int    n;

	for (;;) {
		n = FCGX_GetStr(buf, sizeof(buf), req->in);
		if (n <= 0)
			break;
		total += (size_t)n;
		if (total > KEEP_DRAIN_MAX)
			return -1;
	}
	return FCGX_GetError(req->in) != 0 ? -1 : 0;
}

/*
 * Read the next request from the connection req holds (or accept one, if
 * it holds none), serve it and finish it. 0 when a request was served.
 */
static int
worker_serve(struct worker *w, FCGX_Request *req, char *board)
{
	int rc;

	rc = FCGX_Accept_r(req);
	if (rc < 0) {
		/* Another worker took it, or the peer went away. */
		if (rc == -EAGAIN || rc == -EWOULDBLOCK || rc == -EINTR ||
		    rc == -ECONNABORTED)
			return -1;
		log_err("FCGX_Accept_r: %s",
		    rc > -4096 ? strerror(-rc) : "libfcgi error");
		/* Out of descriptors or memory: do not spin. */
		usleep(100000);
		return -1;
	}
	if (board != NULL)
		*board = SCOREBOARD_BUSY;
	handlers_serve(w, req);
	if (req->keepConnection && worker_drain(req) == -1)
		req->keepConnection = 0;
	FCGX_Finish_r(req);
	if (board != NULL)
		*board = req->ipcFd != -1 ? SCOREBOARD_KEPT : SCOREBOARD_IDLE;
	return 0;
}

/* 1 if a connection waits to be accepted on listen_fd, now. */
static int
worker_backlog(int listen_fd)
{
	struct pollfd pfd;

	pfd.fd = listen_fd;
	pfd.events = POLLIN;
	pfd.revents = 0;
	return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN);
}

/* The held connection idle longest, if idle for at least min_ms; or NULL. */
static struct held *
worker_oldest(struct keep *k, int64_t now, int64_t min_ms)
{
	struct held *h = k->h, *old = NULL;
	size_t	     i;

	for (i = 0; i < k->top; i++)
		if (h[i].req.ipcFd != -1 && now - h[i].idle_since >= min_ms &&
		    (old == NULL || h[i].idle_since < old->idle_since))
			old = &h[i];
	return old;
}

/* The first free slot, or NULL when all max are taken. */
static struct held *
worker_free_slot(struct keep *k)
{
	size_t i;

	for (i = 0; i < k->top; i++)
		if (k->h[i].req.ipcFd == -1)
			return &k->h[i];
	return k->top < k->max ? &k->h[k->top] : NULL;
}

/* The scoreboard byte of a worker waiting for work. */
static char
worker_idle_mark(const struct keep *k)
{
	size_t i;

	for (i = 0; i < k->top; i++)
		if (k->h[i].req.ipcFd != -1)
			return SCOREBOARD_KEPT;
	return SCOREBOARD_IDLE;
}

/*
 * Wait for work, then do one round of it: serve one request from each
 * held connection that has one (a kept connection's next request), accept
 * and serve a new connection, close held connections idle for the limit.
 * With every slot taken and a new connection waiting that no other
 * worker took within KEEP_GRACE_MS, close the held connection idle the
 * longest (at least KEEP_YIELD_MS) so that the next round accepts it.
 */
static void
worker_round(struct worker *w, struct keep *k, int listen_fd,
    int64_t *grace_until, const sigset_t *waitmask, char *board)
{
	struct pollfd  *pfd = k->pfd;
	struct held   **slot = k->slot;
	struct held    *h = k->h, *free_slot = NULL, *old;
	enum keep_peek	p;
	struct timespec ts, *tsp = NULL;
	int64_t		now, wait_ms = -1, left;
	nfds_t		n = 0, i;
	int		rc, listening;

	now = clock_mono_ms();
	for (i = 0; i < k->top; i++) {
		if (h[i].req.ipcFd == -1) {
			if (free_slot == NULL)
				free_slot = &h[i];
			continue;
		}
		left = h[i].idle_since + w->cfg->keep_idle_ms - now;
		if (left < 0)
			left = 0;
		if (wait_ms == -1 || left < wait_ms)
			wait_ms = left;
		slot[n] = &h[i];
		pfd[n].fd = h[i].req.ipcFd;
		pfd[n].events = POLLIN | POLLRDHUP;
		pfd[n].revents = 0;
		n++;
	}
	if (free_slot == NULL && k->top < k->max)
		free_slot = &h[k->top];
	/* Every slot taken: listen again only when the grace is over. */
	listening = free_slot != NULL || *grace_until == 0;
	if (listening) {
		pfd[n].fd = listen_fd;
		pfd[n].events = POLLIN;
		pfd[n].revents = 0;
	} else {
		left = *grace_until - now > 0 ? *grace_until - now : 0;
		if (wait_ms == -1 || left < wait_ms)
			wait_ms = left;
	}
	if (wait_ms != -1) {
		ts.tv_sec = wait_ms / 1000;
		ts.tv_nsec = (wait_ms % 1000) * 1000000;
		tsp = &ts;
	}
	rc = ppoll(pfd, listening ? n + 1 : n, tsp, waitmask);
	if (rc == -1) {
		if (errno != EINTR) {
			log_err("ppoll: %s", strerror(errno));
			usleep(100000);
		}
		return;
	}

	/* Held connections: a request, the peer's close, or the limit. */
	for (i = 0; i < n && !worker_stop; i++) {
		if (pfd[i].revents == 0 &&
		    clock_mono_ms() - slot[i]->idle_since <
			w->cfg->keep_idle_ms)
			continue;
		/* Data and no end from the peer: no need to look first. */
		p = pfd[i].revents == POLLIN ? KEEP_DATA :
					       worker_peek(slot[i]->req.ipcFd);
		switch (p) {
		case KEEP_DATA:
			worker_serve(w, &slot[i]->req, board);
			slot[i]->idle_since = clock_mono_ms();
			break;
		case KEEP_CLOSED:
			worker_drop(&slot[i]->req);
			break;
		case KEEP_IDLE:
			if (clock_mono_ms() - slot[i]->idle_since >=
			    w->cfg->keep_idle_ms)
				worker_drop(&slot[i]->req);
			break;
		}
	}
	if (worker_stop)
		goto done;

	/* A new connection. */
	if (listening && (pfd[n].revents & POLLIN)) {
		free_slot = worker_free_slot(k);
		if (free_slot != NULL) {
			*grace_until = 0;
			if (worker_serve(w, &free_slot->req, board) == 0)
				free_slot->idle_since = clock_mono_ms();
			if (free_slot->req.ipcFd != -1 &&
			    (size_t)(free_slot - h) >= k->top)
				k->top = (size_t)(free_slot - h) + 1;
		} else if (*grace_until == 0)
			*grace_until = clock_mono_ms() + KEEP_GRACE_MS;
	} else if (!listening && clock_mono_ms() >= *grace_until) {
		/* No other worker took it: make room. */
		*grace_until = 0;
		now = clock_mono_ms();
		old = worker_oldest(k, now, KEEP_YIELD_MS);
		if (old != NULL && worker_backlog(listen_fd) &&
		    worker_peek(old->req.ipcFd) == KEEP_IDLE) {
			log_debug("kept connection idle %lld ms closed: a new "
				  "one waits",
			    (long long)(now - old->idle_since));
			worker_drop(&old->req);
		} else if (old == NULL)
			*grace_until = now + KEEP_GRACE_MS;
	}
done:
	while (k->top > 0 && h[k->top - 1].req.ipcFd == -1)
		k->top--;
	if (board != NULL)
		*board = worker_idle_mark(k);
}

/* Room for max held connections on listening socket fd; -1 (logged). */
static int
worker_keep_init(struct keep *k, size_t max, int fd)
{
	size_t i;

	memset(k, 0, sizeof(*k));
	k->max = max;
	k->h = calloc(max, sizeof(*k->h));
	k->slot = calloc(max, sizeof(*k->slot));
	k->pfd = calloc(max + 1, sizeof(*k->pfd));
	if (k->h == NULL || k->slot == NULL || k->pfd == NULL) {
		log_err("out of memory for %zu kept connections", max);
		goto fail;
	}
	for (i = 0; i < max; i++)
		if (FCGX_InitRequest(&k->h[i].req, fd,
			FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
			log_err("FCGX_InitRequest failed");
			goto fail;
		}
	return 0;
fail:
	free(k->h);
	free(k->slot);
	free(k->pfd);
	memset(k, 0, sizeof(*k));
	return -1;
}

void
worker_run(const struct api_config *cfg, int fd, pid_t parent, char *board)
{
	struct worker w;
	struct keep   keep;
	sigset_t      waitmask;
	const char   *bad;
	char	      err[256];
	int64_t	      grace_until = 0;
	size_t	      i;

	worker_signals(&waitmask);
	/* Die with the parent, whatever killed it. */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1)
		log_warn("prctl PR_SET_PDEATHSIG: %s", strerror(errno));
	if (getppid() != parent)
		exit(0);

	/* A broken route table would route wrongly: refuse to serve. */
	bad = route_table_check();
	if (bad != NULL) {
		log_err("route table: bad row %s", bad);
		exit(1);
	}
	memset(&w, 0, sizeof(w));
	w.cfg = cfg;
	db_init(&w.db, cfg->database_url);
	if (queue_init(&w.queue, cfg->redis_url, err, sizeof(err)) == -1) {
		log_err("%s", err);
		exit(1);
	}
	if (FCGX_Init() != 0) {
		log_err("FCGX_Init failed");
		exit(1);
	}
	if (worker_keep_init(&keep, (size_t)cfg->keep_max, fd) == -1)
		exit(1);
	log_debug("worker %ld ready", (long)getpid());

	while (!worker_stop)
		worker_round(&w, &keep, fd, &grace_until, &waitmask, board);
	log_debug("worker %ld stopping", (long)getpid());
	for (i = 0; i < keep.top; i++)
		if (keep.h[i].req.ipcFd != -1)
			worker_drop(&keep.h[i].req);
	free(keep.h);
	free(keep.slot);
	free(keep.pfd);
	db_close(&w.db);
	queue_close(&w.queue);
	exit(0);
}
