/*
 * storage.c: images on local disk; see storage.h. The writes are small
 * and local, so they are done in the loop (a few ms, bounded by the
 * image cap); nginx serves the folder.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage.h"

int
storage_is_image(const char *data, size_t len)
{
	const unsigned char *d = (const unsigned char *)data;

	if (len >= 8 && memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0)
		return 1;
	if (len >= 3 && d[0] == 0xff && d[1] == 0xd8 && d[2] == 0xff)
		return 1;
	if (len >= 12 && memcmp(d, "RIFF", 4) == 0 &&
	    memcmp(d + 8, "WEBP", 4) == 0)
		return 1;
	if (len >= 6 && (memcmp(d, "GIF87a", 6) == 0 ||
	    memcmp(d, "GIF89a", 6) == 0))
		return 1;
	return 0;
}

int
storage_write(const char *dir, const char *record_id, const char *data,
    size_t len, char *err, size_t errlen)
{
	char	tmp[4096], final[4096];
	size_t	off = 0;
	ssize_t	n;
	int	fd = -1, dfd, tn, fn;

	tn = snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, record_id);
	fn = snprintf(final, sizeof(final), "%s/%s.png", dir, record_id);
	if (tn < 0 || (size_t)tn >= sizeof(tmp) || fn < 0 ||
	    (size_t)fn >= sizeof(final)) {
		snprintf(err, errlen, "image path too long");
		return -1;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd == -1) {
		snprintf(err, errlen, "mkostemp %s: %s", tmp, strerror(errno));
		return -1;
	}
	while (off < len) {
		n = write(fd, data + off, len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "write %s: %s", tmp,
			    strerror(errno));
			goto fail;
		}
		off += (size_t)n;
	}
	if (fchmod(fd, 0644) == -1 || fsync(fd) == -1) {
		snprintf(err, errlen, "fsync %s: %s", tmp, strerror(errno));
		goto fail;
	}
	if (close(fd) == -1) {
		fd = -1;
		snprintf(err, errlen, "close %s: %s", tmp, strerror(errno));
		goto fail;
	}
	fd = -1;
	if (rename(tmp, final) == -1) {
		snprintf(err, errlen, "rename to %s: %s", final,
		    strerror(errno));
		goto fail;
	}
	/* Make the rename itself durable. */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd != -1) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
fail:
	if (fd != -1)
		close(fd);
	unlink(tmp);
	return -1;
}

int
storage_check(const char *dir, char *err, size_t errlen)
{
	struct stat	st;

	if (stat(dir, &st) == -1 && errno == ENOENT &&
	    mkdir(dir, 0755) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "SCENEGEN_IMAGE_DIR: cannot create %s: "
		    "%s", dir, strerror(errno));
		return -1;
	}
	if (access(dir, W_OK | X_OK) == -1) {
		snprintf(err, errlen, "SCENEGEN_IMAGE_DIR: cannot write to "
		    "%s: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}
