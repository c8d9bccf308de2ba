/* storage.h: keeping a copy of each image on local disk. */
#ifndef SCENEGEND_STORAGE_H
#define SCENEGEND_STORAGE_H

#include <stddef.h>

/* Whether data starts like an image (PNG, JPEG, WebP or GIF). */
int storage_is_image(const char *data, size_t len);
/* One image of a batch: the caller fills the first three fields. */
struct storage_file {
	const char *record_id;
	const char *data;
	size_t	    len;
	int	    ok;	      /* out: written, flushed and renamed */
	char	    err[320]; /* out: why not */
	char	   *tmp;      /* internal */
	int	    fd;	      /* internal */
};

/*
 * Write each <dir>/<record_id>.png through a temporary file, flush and
 * rename, so readers see the whole file or none, and a file marked ok is
 * on disk. One journal commit and one directory flush serve the batch.
 */
void storage_write_batch(const char *dir, struct storage_file *const *files,
    size_t n);
/*
 * Remove <dir>/<record_id>.png (a canceled record's image). 1 removed,
 * 0 there was none, -1 (errno set) it could not be removed.
 */
int  storage_remove(const char *dir, const char *record_id);
/* Whether dir exists and we may write there; creates it if missing. */
int  storage_check(const char *dir, char *err, size_t errlen);

#endif
