/* storage.h: keeping a copy of each image on local disk. */
#ifndef SCENEGEND_STORAGE_H
#define SCENEGEND_STORAGE_H

#include <stddef.h>

/* Whether data starts like an image (PNG, JPEG, WebP or GIF). */
int	storage_is_image(const char *data, size_t len);
/*
 * Write <dir>/<record_id>.png through a temporary file, fsync and
 * rename, so readers see the whole file or none. -1 with a sentence in
 * err on failure.
 */
int	storage_write(const char *dir, const char *record_id, const char *data,
	    size_t len, char *err, size_t errlen);
/* Whether dir exists and we may write there; creates it if missing. */
int	storage_check(const char *dir, char *err, size_t errlen);

#endif
