/*
 * One worker process: wait for a connection on the shared listening
 * socket, serve the request, repeat. SIGTERM and SIGINT are blocked
 * except inside ppoll(), so a request in hand is always finished (no
 * libpq or hiredis call is ever interrupted) and a worker waiting for
 * work stops at once.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "log.h"
#include "extern.h"

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

void
worker_run(const struct api_config *cfg, int fd, pid_t parent, char *board)
{
	struct worker w;
	FCGX_Request  req;
	struct pollfd pfd;
	sigset_t      waitmask;
	const char   *bad;
	char	      err[256];
	int	      rc;

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
	if (FCGX_Init() != 0 ||
	    FCGX_InitRequest(&req, fd, FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
		log_err("FCGX_Init failed");
		exit(1);
	}
	log_debug("worker %ld ready", (long)getpid());

	while (!worker_stop) {
		pfd.fd = fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		rc = ppoll(&pfd, 1, NULL, &waitmask);
		if (rc == -1) {
			if (errno != EINTR) {
				log_err("ppoll: %s", strerror(errno));
				usleep(100000);
			}
			continue;
		}
		rc = FCGX_Accept_r(&req);
		if (rc < 0) {
			/* Another worker took it, or the peer went away. */
			if (rc == -EAGAIN || rc == -EWOULDBLOCK ||
			    rc == -EINTR || rc == -ECONNABORTED)
				continue;
			log_err("FCGX_Accept_r: %s",
			    rc > -4096 ? strerror(-rc) : "libfcgi error");
			/* Out of descriptors or memory: do not spin. */
			usleep(100000);
			continue;
		}
		if (board != NULL)
			*board = SCOREBOARD_BUSY;
		handlers_serve(&w, &req);
		FCGX_Finish_r(&req);
		if (board != NULL)
			*board = SCOREBOARD_IDLE;
	}
	log_debug("worker %ld stopping", (long)getpid());
	db_close(&w.db);
	queue_close(&w.queue);
	exit(0);
}
