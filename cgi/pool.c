/*
 * The parent process: fork the workers, restart one that dies (with a
 * growing delay when they keep dying young), and on SIGTERM or SIGINT
 * pass the signal on, wait for the workers to finish the request at
 * hand, and exit. Signals are taken synchronously with sigtimedwait(),
 * so no work happens in a signal handler.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "clock.h"
#include "log.h"
#include "extern.h"

#define POOL_MAX_WORKERS 256
#define RESTART_MIN_MS	 100 /* delay after a young death */
#define RESTART_MAX_MS	 30000
#define YOUNG_MS	 2000  /* a worker dying sooner is "young" */
#define DRAIN_MS	 20000 /* SIGKILL workers still alive after */

struct slot {
	pid_t	pid;   /* 0: not running */
	char   *board; /* its scoreboard byte, NULL: none */
	int64_t started_ms;
	int64_t restart_at_ms; /* when to start it again */
	int64_t delay_ms;      /* next delay after a young death */
};

/* A no-op handler: SIGCHLD must not be ignored to be waited for. */
static void
pool_sig_noop(int sig)
{
	(void)sig;
}

/* Fork one worker into slot s; -1 (logged) if fork failed. */
static int
pool_spawn(const struct api_config *cfg, int fd, struct slot *s,
    const sigset_t *oldmask)
{
	pid_t pid, parent = getpid();

	pid = fork();
	if (pid == -1) {
		log_err("fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		sigprocmask(SIG_SETMASK, oldmask, NULL);
		worker_run(cfg, fd, parent, s->board);
	}
	s->pid = pid;
	s->started_ms = clock_mono_ms();
	s->restart_at_ms = 0;
	return 0;
}

/* Log how a worker ended and plan its restart. */
static void
pool_reaped(struct slot *s, int status, int stopping)
{
	int64_t now = clock_mono_ms(), lived = now - s->started_ms;

	if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && stopping)
		log_debug("worker %ld exited", (long)s->pid);
	else if (WIFEXITED(status))
		log_err("worker %ld exited with status %d after %lld ms",
		    (long)s->pid, WEXITSTATUS(status), (long long)lived);
	else if (WIFSIGNALED(status))
		log_err("worker %ld killed by signal %d (%s) after %lld ms",
		    (long)s->pid, WTERMSIG(status), strsignal(WTERMSIG(status)),
		    (long long)lived);
	s->pid = 0;
	if (s->board != NULL)
		*s->board = SCOREBOARD_IDLE; /* it may have died busy */
	if (lived < YOUNG_MS) {
		s->delay_ms = s->delay_ms == 0 ? RESTART_MIN_MS :
						 s->delay_ms * 2;
		if (s->delay_ms > RESTART_MAX_MS)
			s->delay_ms = RESTART_MAX_MS;
	} else
		s->delay_ms = 0;
	s->restart_at_ms = now + s->delay_ms;
	if (!stopping && s->delay_ms > 0)
		log_warn("restarting worker in %lld ms",
		    (long long)s->delay_ms);
}

/* Reap every ended child; returns how many workers are still alive. */
static size_t
pool_reap(struct slot *slots, size_t n, int stopping)
{
	pid_t  pid;
	size_t i, alive;
	int    status;

	for (;;) {
		pid = waitpid(-1, &status, WNOHANG);
		if (pid <= 0)
			break;
		for (i = 0; i < n; i++)
			if (slots[i].pid == pid) {
				pool_reaped(&slots[i], status, stopping);
				break;
			}
	}
	for (alive = 0, i = 0; i < n; i++)
		if (slots[i].pid != 0)
			alive++;
	return alive;
}

/* Send sig to every live worker. */
static void
pool_signal_all(struct slot *slots, size_t n, int sig)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (slots[i].pid != 0 && kill(slots[i].pid, sig) == -1 &&
		    errno != ESRCH)
			log_err("kill %ld: %s", (long)slots[i].pid,
			    strerror(errno));
}

/* Wait for at most ms for one of the signals in set; 0 on timeout. */
static int
pool_wait(const sigset_t *set, int64_t ms)
{
	struct timespec ts;
	int		sig;

	if (ms < 0)
		ms = 0;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000;
	sig = sigtimedwait(set, NULL, &ts);
	return sig == -1 ? 0 : sig;
}

/* SIGTERM/SIGINT: let every worker finish its request, then return. */
static void
pool_drain(struct slot *slots, size_t n, const sigset_t *set)
{
	int64_t deadline = clock_mono_ms() + DRAIN_MS;

	sd_notify(0, "STOPPING=1");
	pool_signal_all(slots, n, SIGTERM);
	while (pool_reap(slots, n, 1) > 0) {
		if (clock_mono_ms() >= deadline) {
			log_err("workers still busy after %d ms: killing",
			    DRAIN_MS);
			pool_signal_all(slots, n, SIGKILL);
			deadline = clock_mono_ms() + DRAIN_MS;
		}
		pool_wait(set, 200);
	}
}

/*
 * Run the pool until SIGTERM or SIGINT. Returns 0 after a clean stop,
 * -1 if no worker could be started at all.
 */
int
pool_run(const struct api_config *cfg, struct listener *l)
{
	struct slot	 slots[POOL_MAX_WORKERS];
	char		*board = NULL;
	struct sigaction sa;
	sigset_t	 set, oldmask;
	size_t		 n, i;
	long		 ncpu;
	int64_t		 now, wait_ms;
	int		 sig;

	n = (size_t)cfg->workers;
	if (n == 0) {
		/*
		 * A worker spends most of a request waiting on the commit:
		 * four per CPU keep the CPUs busy (make bench: 2 workers
		 * ~500 POST/s, 8 ~4,000 POST/s on 2 cores, 16 no better).
		 */
		ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		n = ncpu > 0 ? 4 * (size_t)ncpu : 4;
	}
	if (n > POOL_MAX_WORKERS)
		n = POOL_MAX_WORKERS;
	memset(slots, 0, sizeof(slots));
	if (cfg->scoreboard != NULL) {
		board = scoreboard_open(cfg->scoreboard, n);
		if (board == NULL)
			return -1;
		for (i = 0; i < n; i++)
			slots[i].board = board + i;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = pool_sig_noop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGCHLD, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, &oldmask);

	for (i = 0; i < n; i++)
		if (pool_spawn(cfg, l->fd, &slots[i], &oldmask) == -1) {
			pool_drain(slots, n, &set);
			scoreboard_close(board, n);
			return -1;
		}
	log_notice("started %zu workers", n);
	sd_notify(0, "READY=1");

	for (;;) {
		now = clock_mono_ms();
		wait_ms = 1000;
		for (i = 0; i < n; i++) {
			if (slots[i].pid != 0)
				continue;
			if (slots[i].restart_at_ms <= now) {
				if (pool_spawn(cfg, l->fd, &slots[i],
					&oldmask) == -1)
					slots[i].restart_at_ms = now + 1000;
				continue;
			}
			if (slots[i].restart_at_ms - now < wait_ms)
				wait_ms = slots[i].restart_at_ms - now;
		}
		sig = pool_wait(&set, wait_ms);
		if (sig == SIGTERM || sig == SIGINT) {
			log_notice("%s: stopping", strsignal(sig));
			break;
		}
		if (sig == SIGHUP)
			log_notice("SIGHUP: nothing to reload (settings are "
				   "read at start; restart to change them)");
		pool_reap(slots, n, 0);
	}
	pool_drain(slots, n, &set);
	scoreboard_close(board, n);
	log_notice("stopped");
	return 0;
}
