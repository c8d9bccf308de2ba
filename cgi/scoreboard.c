/*
 * The scoreboard (SCENEGEN_API_SCOREBOARD): one byte per worker in a small
 * file, '.' while it waits for a request and 'B' while it serves one
 * ('K' while it waits for the next request on a kept connection; see
 * worker.c), then a newline, so `cat` shows how many workers are busy. The pool
 * creates the file and maps it shared before it forks; each worker
 * writes its own byte in the mapping (no system call per request), and
 * the pool clears the byte of a worker that died busy.
 */
#include <sys/mman.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "extern.h"

char *
scoreboard_open(const char *path, size_t n)
{
	char *board;
	int   fd;

	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd == -1) {
		log_err("scoreboard %s: open: %s", path, strerror(errno));
		return NULL;
	}
	if (ftruncate(fd, (off_t)n + 1) == -1) {
		log_err("scoreboard %s: ftruncate: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	board = mmap(NULL, n + 1, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (board == MAP_FAILED) {
		log_err("scoreboard %s: mmap: %s", path, strerror(errno));
		return NULL;
	}
	memset(board, SCOREBOARD_IDLE, n);
	board[n] = '\n';
	return board;
}

void
scoreboard_close(char *board, size_t n)
{
	if (board != NULL)
		munmap(board, n + 1);
}
