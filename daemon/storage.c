/*
 * storage.c: images on local disk; see storage.h. The writes run in the
 * writer thread (writer.c), a batch at a time; nginx serves the folder.
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
	if (len >= 6 &&
	    (memcmp(d, "GIF87a", 6) == 0 || memcmp(d, "GIF89a", 6) == 0))
		return 1;
	return 0;
}

/* Mark f failed with a sentence; close and remove its temporary file. */
static void
storage_fail(struct storage_file *f, const char *what)
{
	snprintf(f->err, sizeof(f->err), "%s %s: %s", what,
	    f->tmp != NULL ? f->tmp : f->record_id, strerror(errno));
	if (f->fd != -1)
		close(f->fd);
	f->fd = -1;
	if (f->tmp != NULL)
		unlink(f->tmp);
	f->ok = 0;
}

/*
 * The process umask, read once from /proc/self/status (umask(2) can only
 * read it by setting it, which would race with the threads that create
 * files). 022 if the kernel does not say.
 */
static mode_t
storage_umask(void)
{
	static int    known;
	static mode_t mask = 022;
	char	      line[256];
	unsigned int  m;
	FILE	     *fp;

	if (known)
		return mask;
	known = 1;
	fp = fopen("/proc/self/status", "re");
	if (fp == NULL)
		return mask;
	while (fgets(line, sizeof(line), fp) != NULL)
		if (sscanf(line, "Umask: %o", &m) == 1) {
			mask = (mode_t)(m & 0777);
			break;
		}
	fclose(fp);
	return mask;
}

/* Create f's temporary file, write it all and start its write-back. */
static void
storage_start(const char *dir, struct storage_file *f)
{
	size_t	off = 0;
	ssize_t n;

	f->ok = 0;
	f->fd = -1;
	f->err[0] = '\0';
	if (asprintf(&f->tmp, "%s/.%s.XXXXXX", dir, f->record_id) == -1) {
		f->tmp = NULL;
		snprintf(f->err, sizeof(f->err), "out of memory");
		return;
	}
	f->fd = mkostemp(f->tmp, O_CLOEXEC);
	if (f->fd == -1) {
		storage_fail(f, "mkostemp");
		return;
	}
	while (off < f->len) {
		n = write(f->fd, f->data + off, f->len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			storage_fail(f, "write");
			return;
		}
		off += (size_t)n;
	}
	/* mkostemp made it 0600: give it the mode the process umask allows,
	 * as open(0666) would (0640 under the unit's UMask=0027). */
	if (fchmod(f->fd, 0666 & ~storage_umask()) == -1) {
		storage_fail(f, "fchmod");
		return;
	}
	/* Queue the data now, so that one flush below covers the batch. */
	(void)sync_file_range(f->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	f->ok = 1;
}

void
storage_write_batch(const char *dir, struct storage_file *const *files,
    size_t n)
{
	char  *final;
	size_t i, renamed = 0;
	int    dfd;

	for (i = 0; i < n; i++)
		storage_start(dir, files[i]);
	/* The first flush commits the journal for all; the rest are cheap. */
	for (i = 0; i < n; i++) {
		if (!files[i]->ok)
			continue;
		if (fdatasync(files[i]->fd) == -1) {
			storage_fail(files[i], "fdatasync");
			continue;
		}
		if (close(files[i]->fd) == -1) {
			files[i]->fd = -1;
			storage_fail(files[i], "close");
			continue;
		}
		files[i]->fd = -1;
	}
	for (i = 0; i < n; i++) {
		if (!files[i]->ok)
			continue;
		if (asprintf(&final, "%s/%s.png", dir, files[i]->record_id) ==
		    -1) {
			errno = ENOMEM;
			storage_fail(files[i], "naming");
			continue;
		}
		if (rename(files[i]->tmp, final) == -1)
			storage_fail(files[i], "rename");
		else
			renamed++;
		free(final);
	}
	/* Make the renames themselves durable, once for the batch. */
	dfd = renamed == 0 ? -1 : open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (renamed > 0 && (dfd == -1 || fsync(dfd) == -1)) {
		for (i = 0; i < n; i++)
			if (files[i]->ok) {
				snprintf(files[i]->err, sizeof(files[i]->err),
				    "fsync %s: %s", dir, strerror(errno));
				files[i]->ok = 0;
			}
	}
	if (dfd != -1)
		close(dfd);
	for (i = 0; i < n; i++) {
		free(files[i]->tmp);
		files[i]->tmp = NULL;
	}
}

int
storage_remove(const char *dir, const char *record_id)
{
	char path[4096];
	int  n;

	n = snprintf(path, sizeof(path), "%s/%s.png", dir, record_id);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (unlink(path) == 0)
		return 1;
	return errno == ENOENT ? 0 : -1;
}

int
storage_check(const char *dir, char *err, size_t errlen)
{
	struct stat st;

	if (stat(dir, &st) == -1 && errno == ENOENT && mkdir(dir, 0755) == -1 &&
	    errno != EEXIST) {
		snprintf(err, errlen,
		    "SCENEGEN_IMAGE_DIR: cannot create %s: "
		    "%s",
		    dir, strerror(errno));
		return -1;
	}
	if (access(dir, W_OK | X_OK) == -1) {
		snprintf(err, errlen,
		    "SCENEGEN_IMAGE_DIR: cannot write to "
		    "%s: %s",
		    dir, strerror(errno));
		return -1;
	}
	return 0;
}
