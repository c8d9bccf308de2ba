/*
 * main.c: modelslab-standin, a stand-in for the ModelsLab V7 image API
 * that speaks its wire format over real HTTP, for `make run` without an
 * API key, the tests and the benchmarks.  This file only wires: options,
 * file limit, listener, signals, port file, event loop.
 */
#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <err.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "settings.h"
#include "server.h"

#define PROG	 "modelslab-standin"
#define BACKLOG	 4096
#define SELF_MAX 128

static void
usage(void)
{
	fprintf(stderr,
	    "usage: %s [-l addr:port] [-p portfile] [-k key] "
	    "[-m success|processing] [-e eta_seconds]\n"
	    "\t[-q queue_limit] [-x expire_seconds] [-d delay_ms] "
	    "[-f default_faults]\n",
	    PROG);
	exit(2);
}

/* Lifts the open-files limit to the hard limit; complains if it cannot. */
static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1) {
		warn("getrlimit");
		return;
	}
	if (rl.rlim_cur == rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		warn("setrlimit");
}

/* SIGTERM, SIGINT: leave the loop after this round. */
static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	event_base_loopexit(arg, NULL);
}

/* "ADDR:PORT" of the bound socket fd into buf; -1 on error. */
static int
bound_name(evutil_socket_t fd, char *buf, size_t len, int *port)
{
	struct sockaddr_storage ss;
	socklen_t		slen = sizeof(ss);
	char			host[INET6_ADDRSTRLEN];
	const void	       *addr;
	int			n;

	if (getsockname(fd, (struct sockaddr *)&ss, &slen) == -1)
		return -1;
	if (ss.ss_family == AF_INET6) {
		addr = &((struct sockaddr_in6 *)&ss)->sin6_addr;
		*port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	} else {
		addr = &((struct sockaddr_in *)&ss)->sin_addr;
		*port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	}
	if (inet_ntop(ss.ss_family, addr, host, sizeof(host)) == NULL)
		return -1;
	n = snprintf(buf, len, ss.ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d",
	    host, *port);
	return (n < 0 || (size_t)n >= len) ? -1 : 0;
}

/*
 * Parses "ADDR:PORT" ("[V6]:PORT" for IPv6, "localhost" for 127.0.0.1;
 * port 0 picks a free one) into ss.  Returns -1 when it is no such thing.
 */
static int
parse_listen(const char *spec, struct sockaddr_storage *ss, int *slen)
{
	char	    host[256];
	const char *colon;
	char	   *end;
	long	    port;
	size_t	    hlen;

	colon = strrchr(spec, ':');
	if (colon == NULL)
		return -1;
	hlen = (size_t)(colon - spec);
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || errno != 0 || port < 0 ||
	    port > 65535 || hlen == 0 || hlen >= sizeof(host))
		return -1;
	memcpy(host, spec, hlen);
	host[hlen] = '\0';
	if (strcmp(host, "localhost") == 0)
		memcpy(host, "127.0.0.1", sizeof("127.0.0.1"));
	memset(ss, 0, sizeof(*ss));
	*slen = (int)sizeof(*ss);
	if (evutil_parse_sockaddr_port(host, (struct sockaddr *)ss, slen) == -1)
		return -1;
	if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
	else
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
	return 0;
}

/* Writes the port to path atomically (a temporary file, then rename). */
static int
write_port_file(const char *path, int port)
{
	char  tmp[4096];
	FILE *fp;
	int   n;

	n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		warnx("%s: path too long", path);
		return -1;
	}
	fp = fopen(tmp, "w");
	if (fp == NULL) {
		warn("fopen %s", tmp);
		return -1;
	}
	if (fprintf(fp, "%d\n", port) < 0 || fclose(fp) == EOF) {
		warn("write %s", tmp);
		unlink(tmp);
		return -1;
	}
	if (rename(tmp, path) == -1) {
		warn("rename %s", path);
		unlink(tmp);
		return -1;
	}
	return 0;
}

int
main(int argc, char *argv[])
{
	struct standin_config	cfg;
	struct sockaddr_storage ss;
	struct event_base      *base = NULL;
	struct evhttp	       *http = NULL;
	struct evconnlistener  *lev = NULL;
	struct event	       *sigterm = NULL, *sigint = NULL;
	struct server	       *srv = NULL;
	const char	       *listen_at = "127.0.0.1:0";
	const char	       *port_file = NULL;
	char			self[SELF_MAX], errbuf[256];
	int			ch, slen, port, rc = 1;

	if (settings_init(&cfg) == -1)
		errx(1, "settings_init: out of memory");
	for (;;) {
		ch = getopt(argc, argv, "l:p:k:m:e:q:x:d:f:h");
		if (ch == -1)
			break;
		if (ch == 'l')
			listen_at = optarg;
		else if (ch == 'p')
			port_file = optarg;
		else if (settings_flag_known(ch)) {
			if (settings_set(&cfg, ch, NULL, optarg, errbuf,
				sizeof(errbuf)) == -1)
				errx(2, "-%c: %s", ch, errbuf);
		} else
			usage();
	}
	if (optind != argc)
		usage();

	raise_nofile();
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		err(1, "signal SIGPIPE");

	if (parse_listen(listen_at, &ss, &slen) == -1)
		errx(2, "-l: bad address \"%s\"", listen_at);

	base = event_base_new();
	if (base == NULL) {
		warnx("event_base_new failed");
		goto done;
	}
	http = evhttp_new(base);
	if (http == NULL) {
		warnx("evhttp_new failed");
		goto done;
	}
	lev = evconnlistener_new_bind(base, NULL, NULL,
	    LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
	    BACKLOG, (struct sockaddr *)&ss, slen);
	if (lev == NULL) {
		warn("bind %s", listen_at);
		goto done;
	}
	if (evhttp_bind_listener(http, lev) == NULL) {
		warnx("evhttp_bind_listener failed");
		evconnlistener_free(lev);
		goto done;
	}
	if (bound_name(evconnlistener_get_fd(lev), self, sizeof(self), &port) ==
	    -1) {
		warn("getsockname");
		goto done;
	}

	sigterm = evsignal_new(base, SIGTERM, on_signal, base);
	sigint = evsignal_new(base, SIGINT, on_signal, base);
	if (sigterm == NULL || sigint == NULL ||
	    evsignal_add(sigterm, NULL) == -1 ||
	    evsignal_add(sigint, NULL) == -1) {
		warnx("evsignal_add failed");
		goto done;
	}

	srv = server_new(base, http, &cfg, self);
	if (srv == NULL) {
		warnx("server_new: out of memory");
		goto done;
	}
	server_mark_baseline(srv);
	if (port_file != NULL && write_port_file(port_file, port) == -1)
		goto done;
	fprintf(stderr, "%s: listening on %s\n", PROG, self);

	if (event_base_dispatch(base) == -1) {
		warnx("event_base_dispatch failed");
		goto done;
	}
	rc = 0;
done:
	server_free(srv);
	if (http != NULL)
		evhttp_free(http);
	if (sigterm != NULL)
		event_free(sigterm);
	if (sigint != NULL)
		event_free(sigint);
	if (base != NULL)
		event_base_free(base);
	settings_clear(&cfg);
	libevent_global_shutdown();
	return rc;
}
