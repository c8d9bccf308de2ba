/*
 * The API's side of nchan's publisher (scenegen-api(8), "Live status"):
 * one short HTTP/1.0 exchange on the publisher's local socket
 * (SCENEGEN_EVENTS_SOCKET), blocking but bounded by PUBLISH_TIMEOUT_MS in
 * all, so a stuck nginx costs a worker one second at most.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "extern.h"

#define PUBLISH_PATH	"/.scenegen-publish/"
#define PUBLISH_ANSWER	512 /* bytes of an answer we read at most */
#define PUBLISH_LAST_ID "\"last_message_id\": \"" /* nchan's channel info */

/* Wait until fd is ready for events before deadline (ms); -1 if not. */
static int
publish_wait(int fd, short events, int64_t deadline)
{
	struct pollfd p;
	int64_t	      left;
	int	      rc;

	p.fd = fd;
	p.events = events;
	for (;;) {
		left = deadline - clock_mono_ms();
		if (left <= 0)
			return -1;
		rc = poll(&p, 1, (int)left);
		if (rc > 0)
			return 0;
		if (rc == -1 && errno != EINTR)
			return -1;
	}
}

/*
 * Send head then body (len bytes, NULL for none) to the socket at path
 * and read the answer into answer (PUBLISH_ANSWER bytes): its status line
 * only, or with whole set as much of it as fits (nginx closes an
 * HTTP/1.0 exchange). The status code, -1 on any failure or timeout.
 */
static int
publish_exchange(const char *path, const char *head, const char *body,
    size_t len, char *answer, int whole)
{
	struct sockaddr_un sa;
	const char	  *part[2] = { head, body };
	size_t		   plen[2] = { strlen(head), len }, off, got = 0;
	int64_t		   deadline = clock_mono_ms() + PUBLISH_TIMEOUT_MS;
	ssize_t		   n;
	int		   fd, i, code = -1;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -1;
	memcpy(sa.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		log_warn("socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 &&
	    errno != EINPROGRESS && errno != EAGAIN) {
		log_warn("connect %s: %s", path, strerror(errno));
		goto fail;
	}
	for (i = 0; i < 2; i++) {
		for (off = 0; part[i] != NULL && off < plen[i];) {
			if (publish_wait(fd, POLLOUT, deadline) == -1)
				goto timeout;
			n = send(fd, part[i] + off, plen[i] - off,
			    MSG_NOSIGNAL);
			if (n == -1 && errno != EAGAIN && errno != EINTR) {
				log_warn("send %s: %s", path, strerror(errno));
				goto fail;
			}
			if (n > 0)
				off += (size_t)n;
		}
	}
	answer[0] = '\0';
	while (got < PUBLISH_ANSWER - 1) {
		if (publish_wait(fd, POLLIN, deadline) == -1)
			goto timeout;
		n = recv(fd, answer + got, PUBLISH_ANSWER - 1 - got, 0);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		answer[got] = '\0';
		if (!whole && strstr(answer, "\r\n") != NULL)
			break;
	}
	answer[got] = '\0';
	if (got >= 12 && strncmp(answer, "HTTP/1.", 7) == 0 &&
	    answer[8] == ' ' && answer[9] >= '1' && answer[9] <= '5' &&
	    answer[10] >= '0' && answer[10] <= '9' && answer[11] >= '0' &&
	    answer[11] <= '9')
		code = (answer[9] - '0') * 100 + (answer[10] - '0') * 10 +
		    (answer[11] - '0');
	else
		log_warn("publisher %s: no status line", path);
	goto fail;
timeout:
	log_warn("publisher %s: no answer within %d ms", path,
	    PUBLISH_TIMEOUT_MS);
fail:
	close(fd);
	return code;
}

/*
 * The age in seconds of the message in nchan's channel info (answer):
 * its id is "<seconds since the epoch>:<tag>". -1 if there is none.
 */
static long
publish_message_age(const char *answer)
{
	const char *p = strstr(answer, PUBLISH_LAST_ID);
	char	   *end;
	long long   t, now = (long long)time(NULL);

	if (p == NULL)
		return -1;
	p += strlen(PUBLISH_LAST_ID);
	errno = 0;
	t = strtoll(p, &end, 10);
	if (errno != 0 || end == p || *end != ':' || t <= 0)
		return -1;
	return t > now ? 0 : (long)(now - t);
}

/*
 * Whether the channel of record id holds a message a subscriber may be
 * given first: PUBLISH_OK (yes), PUBLISH_EMPTY (nchan's 404, or a
 * message older than PUBLISH_FRESH_S that nchan may drop any moment, or
 * channel info without its id) or PUBLISH_FAILED.
 */
enum publish_result
publish_peek(const char *socket_path, const char *id)
{
	char head[160], answer[PUBLISH_ANSWER];
	long age;
	int  code;

	snprintf(head, sizeof(head),
	    "GET " PUBLISH_PATH "%s HTTP/1.0\r\nHost: scenegen\r\n"
	    "Accept: application/json\r\n\r\n",
	    id);
	code = publish_exchange(socket_path, head, NULL, 0, answer, 1);
	if (code == 404)
		return PUBLISH_EMPTY;
	if (code >= 200 && code < 300) {
		age = publish_message_age(answer);
		return age >= 0 && age < PUBLISH_FRESH_S ? PUBLISH_OK :
							   PUBLISH_EMPTY;
	}
	if (code != -1)
		log_warn("publisher %s: GET answered %d", socket_path, code);
	return PUBLISH_FAILED;
}

/* Put doc (len bytes) on the channel of record id: PUBLISH_OK or FAILED. */
enum publish_result
publish_document(const char *socket_path, const char *id, const char *doc,
    size_t len)
{
	char head[256], answer[PUBLISH_ANSWER];
	int  code;

	snprintf(head, sizeof(head),
	    "POST " PUBLISH_PATH "%s HTTP/1.0\r\nHost: scenegen\r\n"
	    "Content-Type: application/json\r\nAccept: application/json\r\n"
	    "Content-Length: %zu\r\n\r\n",
	    id, len);
	code = publish_exchange(socket_path, head, doc, len, answer, 0);
	if (code >= 200 && code < 300)
		return PUBLISH_OK;
	if (code != -1)
		log_warn("publisher %s: POST answered %d", socket_path, code);
	return PUBLISH_FAILED;
}
