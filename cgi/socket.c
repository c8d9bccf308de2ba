/*
 * The listening socket, from the first of: systemd socket activation
 * (LISTEN_FDS/LISTEN_PID, fd 3), a listening socket on fd 0 (spawn-fcgi
 * style), or a unix socket we create at SCENEGEN_API_SOCKET.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "log.h"
#include "extern.h"

#define LISTEN_BACKLOG 4096 /* the kernel caps it at somaxconn */

/* 1 if fd is a socket in the listening state. */
static int
socket_is_listening(int fd)
{
	int	  v = 0;
	socklen_t len = sizeof(v);

	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) == -1)
		return 0;
	return v == 1;
}

/*
 * Remove a leftover socket file at path, unless a live process still
 * listens on it. Returns -1 (logged) when path is in use or not a socket.
 */
static int
socket_remove_stale(const struct sockaddr_un *sun, const char *path)
{
	struct stat st;
	int	    fd, rc;

	if (lstat(path, &st) == -1)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISSOCK(st.st_mode)) {
		log_err("%s exists and is not a socket", path);
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		log_err("socket: %s", strerror(errno));
		return -1;
	}
	rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	close(fd);
	if (rc == 0) {
		log_err("%s is in use by another process", path);
		return -1;
	}
	if (unlink(path) == -1 && errno != ENOENT) {
		log_err("unlink %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Create, bind and listen on the unix socket of the settings. */
static int
socket_create(const struct api_config *cfg, struct listener *l)
{
	struct sockaddr_un sun;
	struct group	  *gr;
	mode_t		   old;
	int		   fd = -1;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(cfg->socket_path) >= sizeof(sun.sun_path)) {
		log_err("SCENEGEN_API_SOCKET is longer than %zu bytes",
		    sizeof(sun.sun_path) - 1);
		return -1;
	}
	memcpy(sun.sun_path, cfg->socket_path, strlen(cfg->socket_path));
	if (socket_remove_stale(&sun, cfg->socket_path) == -1)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		log_err("socket: %s", strerror(errno));
		goto fail;
	}
	/* No window in which the socket is wider open than asked. */
	old = umask(0777 & ~cfg->socket_mode);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		umask(old);
		log_err("bind %s: %s", cfg->socket_path, strerror(errno));
		goto fail;
	}
	umask(old);
	l->created = 1;
	if (chmod(cfg->socket_path, cfg->socket_mode) == -1) {
		log_err("chmod %s: %s", cfg->socket_path, strerror(errno));
		goto fail;
	}
	if (cfg->socket_group != NULL) {
		gr = getgrnam(cfg->socket_group);
		if (gr == NULL) {
			log_err("SCENEGEN_API_SOCKET_GROUP: no group %s",
			    cfg->socket_group);
			goto fail;
		}
		if (chown(cfg->socket_path, (uid_t)-1, gr->gr_gid) == -1) {
			log_err("chown %s: %s", cfg->socket_path,
			    strerror(errno));
			goto fail;
		}
	}
	if (listen(fd, LISTEN_BACKLOG) == -1) {
		log_err("listen %s: %s", cfg->socket_path, strerror(errno));
		goto fail;
	}
	l->fd = fd;
	return 0;
fail:
	if (fd != -1)
		close(fd);
	if (l->created)
		unlink(cfg->socket_path);
	l->created = 0;
	return -1;
}

/*
 * Find or make the listening socket and make it non-blocking (workers
 * wait for it with ppoll, so that a signal can always end the wait).
 * Returns -1 after logging why.
 */
int
listener_open(const struct api_config *cfg, struct listener *l)
{
	int n, flags;

	memset(l, 0, sizeof(*l));
	l->fd = -1;
	l->path = cfg->socket_path;
	n = sd_listen_fds(1);
	if (n < 0) {
		log_err("sd_listen_fds: %s", strerror(-n));
		return -1;
	}
	if (n > 0) {
		if (n > 1)
			log_warn("systemd passed %d sockets; using the first",
			    n);
		l->fd = SD_LISTEN_FDS_START;
		log_info("listening on the socket systemd passed");
	} else if (socket_is_listening(STDIN_FILENO)) {
		l->fd = STDIN_FILENO;
		log_info("listening on the socket passed as fd 0");
	} else {
		if (socket_create(cfg, l) == -1)
			return -1;
		log_info("listening on %s", cfg->socket_path);
	}
	flags = fcntl(l->fd, F_GETFL);
	if (flags == -1 || fcntl(l->fd, F_SETFL, flags | O_NONBLOCK) == -1) {
		log_err("fcntl O_NONBLOCK: %s", strerror(errno));
		listener_close(l);
		return -1;
	}
	return 0;
}

/* Close the socket; remove its file only if we created it. */
void
listener_close(struct listener *l)
{
	if (l->fd != -1)
		close(l->fd);
	if (l->created)
		unlink(l->path);
	l->fd = -1;
	l->created = 0;
}
