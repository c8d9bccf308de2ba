/*
 * fcgi_null: the cheapest FastCGI responder this bench can think of, for
 * the "hop ceiling" line of bench/run.sh. One process, one epoll loop,
 * non-blocking sockets: it reads FastCGI records (FastCGI 1.0 spec,
 * section 3), and when a request's empty FCGI_STDIN record arrives it
 * answers the same 400 as the API's route check, with no parameter looked
 * at. FCGI_KEEP_CONN is honoured. What nginx gets from it is what nginx's
 * FastCGI module itself costs on this machine, with no worker behind.
 *
 * usage: fcgi_null SOCKET_PATH [PROCESSES] (runs until SIGTERM or SIGINT;
 * with PROCESSES > 1 that many share the listening socket, each with its
 * own loop, as a pool of workers would)
 */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define FCGI_BEGIN_REQUEST 1
#define FCGI_END_REQUEST   3
#define FCGI_STDIN	   5
#define FCGI_STDOUT	   6
#define FCGI_KEEP_CONN	   1
#define HEADER_LEN	   8
#define INBUF_CAP	   (HEADER_LEN + 65535 + 255) /* one whole record */
#define MAX_EVENTS	   64

static const char reply_text[] =
    "Status: 400 Bad Request\r\n"
    "Content-Type: application/json; charset=utf-8\r\n"
    "Cache-Control: no-store\r\n\r\n"
    "{\"detail\":\"chapter_id must be a UUID.\",\"code\":\"invalid_path\"}\n";

/* One connection from nginx: bytes read and not yet parsed. */
struct conn {
	int	      fd;
	int	      keep;
	size_t	      len;
	unsigned char in[INBUF_CAP];
};

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* Write all of buf (len bytes) to the blocking-if-full socket fd. */
static int
write_all(int fd, const unsigned char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, buf, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN) {
			usleep(100);
			continue;
		}
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Fill an 8-byte record header. */
static void
header(unsigned char *h, int type, unsigned id, size_t len)
{
	h[0] = 1;
	h[1] = (unsigned char)type;
	h[2] = (unsigned char)(id >> 8);
	h[3] = (unsigned char)id;
	h[4] = (unsigned char)(len >> 8);
	h[5] = (unsigned char)len;
	h[6] = 0;
	h[7] = 0;
}

/* The answer to request id: STDOUT, an empty STDOUT, END_REQUEST. */
static int
answer(int fd, unsigned id)
{
	unsigned char out[HEADER_LEN * 3 + sizeof(reply_text) + 8];
	size_t	      tlen = sizeof(reply_text) - 1, n = 0;

	header(out, FCGI_STDOUT, id, tlen);
	n += HEADER_LEN;
	memcpy(out + n, reply_text, tlen);
	n += tlen;
	header(out + n, FCGI_STDOUT, id, 0);
	n += HEADER_LEN;
	header(out + n, FCGI_END_REQUEST, id, 8);
	n += HEADER_LEN;
	memset(out + n, 0, 8);
	n += 8;
	return write_all(fd, out, n);
}

/*
 * Parse the complete records c holds and answer each request whose stdin
 * ended. 1: close the connection (done, not kept), 0: keep reading,
 * -1: a protocol or write error.
 */
static int
parse(struct conn *c)
{
	size_t	 off = 0, clen, plen;
	unsigned id;
	int	 type, done = 0;

	while (c->len - off >= HEADER_LEN) {
		unsigned char *h = c->in + off;

		if (h[0] != 1)
			return -1;
		type = h[1];
		id = (unsigned)h[2] << 8 | h[3];
		clen = (size_t)h[4] << 8 | h[5];
		plen = h[6];
		if (c->len - off < HEADER_LEN + clen + plen)
			break;
		if (type == FCGI_BEGIN_REQUEST && clen >= 3)
			c->keep = (h[HEADER_LEN + 2] & FCGI_KEEP_CONN) != 0;
		else if (type == FCGI_STDIN && clen == 0) {
			if (answer(c->fd, id) == -1)
				return -1;
			if (!c->keep)
				done = 1;
		}
		off += HEADER_LEN + clen + plen;
	}
	memmove(c->in, c->in + off, c->len - off);
	c->len -= off;
	return done;
}

/* Read what c's socket has; 1 or -1 when the connection is to close. */
static int
on_readable(struct conn *c)
{
	ssize_t n;
	int	rc;

	for (;;) {
		if (c->len == sizeof(c->in))
			return -1;
		n = read(c->fd, c->in + c->len, sizeof(c->in) - c->len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return 0;
		if (n <= 0)
			return -1;
		c->len += (size_t)n;
		rc = parse(c);
		if (rc != 0)
			return rc;
	}
}

/* Listen on path (replacing a stale socket), non-blocking. */
static int
listen_on(const char *path)
{
	struct sockaddr_un sa;
	int		   fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "fcgi_null: socket path too long\n");
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    chmod(path, 0666) == -1 || listen(fd, 1024) == -1) {
		fprintf(stderr, "fcgi_null: %s: %s\n", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	return fd;
}

int
main(int argc, char **argv)
{
	struct epoll_event ev, events[MAX_EVENTS];
	struct sigaction   sa;
	struct conn	  *c;
	pid_t		   kids[64];
	int		   lfd, ep, n, i, fd, rc = 1, procs = 1, nkids = 0;

	if (argc == 3)
		procs = atoi(argv[2]);
	if (argc < 2 || argc > 3 || procs < 1 || procs > 64) {
		fprintf(stderr, "usage: fcgi_null SOCKET_PATH [PROCESSES]\n");
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	lfd = listen_on(argv[1]);
	if (lfd == -1)
		return 1;
	for (i = 1; i < procs; i++) {
		pid_t pid = fork();

		if (pid == -1)
			goto fail;
		if (pid == 0) {
			nkids = -1; /* a child: nothing to stop or unlink */
			break;
		}
		kids[nkids++] = pid;
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep == -1)
		goto fail;
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) == -1)
		goto fail;
	while (!stop) {
		n = epoll_wait(ep, events, MAX_EVENTS, -1);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			goto fail;
		for (i = 0; i < n; i++) {
			c = events[i].data.ptr;
			if (c == NULL) {
				fd = accept4(lfd, NULL, NULL,
				    SOCK_NONBLOCK | SOCK_CLOEXEC);
				if (fd == -1)
					continue;
				c = calloc(1, sizeof(*c));
				if (c == NULL) {
					close(fd);
					continue;
				}
				c->fd = fd;
				ev.events = EPOLLIN;
				ev.data.ptr = c;
				if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) ==
				    -1) {
					close(fd);
					free(c);
				}
				continue;
			}
			if (on_readable(c) != 0) {
				close(c->fd); /* leaves the epoll set too */
				free(c);
			}
		}
	}
	rc = 0;
fail:
	if (rc != 0)
		fprintf(stderr, "fcgi_null: %s\n", strerror(errno));
	if (nkids >= 0) {
		/* Stopped by PID: stop the other processes too. */
		for (i = 0; i < nkids; i++)
			kill(kids[i], SIGTERM);
		while (wait(NULL) > 0 || errno == EINTR)
			;
		unlink(argv[1]);
	}
	return rc;
}
