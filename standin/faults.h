/*
 * faults.h: fault markers of the ModelsLab stand-in.
 *
 * A marker rides inside a prompt, "[standin:fault=http503;times=2]", or is
 * given per run with -f (the same KEY=VALUE list, brackets optional).
 * Unknown keys and bad values are ignored, so a prompt can never make the
 * stand-in refuse a request.
 */
#ifndef STANDIN_FAULTS_H
#define STANDIN_FAULTS_H

#include <stddef.h>

/* How a generation answers: at once, or queued with an ETA. */
enum standin_mode {
	MODE_SUCCESS,
	MODE_PROCESSING,
	MODE__MAX
};

/* The one answer-level fault a request can carry. */
enum fault_kind {
	FAULT_NONE,
	FAULT_HTTP400,
	FAULT_HTTP401,
	FAULT_HTTP402,
	FAULT_HTTP403,
	FAULT_HTTP429,
	FAULT_HTTP500,
	FAULT_HTTP502,
	FAULT_HTTP503,
	FAULT_HTTP504,
	FAULT_RATELIMIT200,
	FAULT_ERROR200,
	FAULT_ERROR200_FATAL,
	FAULT_HANG,
	FAULT_DROP,
	FAULT_MALFORMED,
	FAULT_TRUNCATED,
	FAULT_SHORT,
	FAULT_OVERSIZED,
	FAULT__MAX
};

/* Modifiers that shape a whole generation rather than one answer. */
#define FAULT_F_FAILED	    0x01u /* fetch answers "failed" */
#define FAULT_F_MESSEGE	    0x02u /* "messege" spelling */
#define FAULT_F_STRING_ID   0x04u /* ids as JSON strings */
#define FAULT_F_EXPIRE	    0x08u /* output URLs 404 once ready */

#define FAULTS_SIZE_DEFAULT (20u * 1024 * 1024)
#define FAULTS_SIZE_MAX	    (512u * 1024 * 1024)
#define FAULTS_SECONDS_MAX  86400.0

struct faults {
	enum fault_kind kind;
	unsigned int	flags;	     /* FAULT_F_* */
	int		at_fetch;    /* kind hits fetches, not creates */
	long		times;	     /* first N calls only; 0: every call */
	double		retry_after; /* http429: seconds */
	double		hang_s;	     /* hang: 0 = until the client leaves */
	size_t		size;	     /* oversized: body bytes */
	double		eta;	     /* < 0: the configured ETA */
	int		mode;	     /* < 0: the configured mode */
};

void	    faults_init(struct faults *);
void	    faults_parse_list(struct faults *, const char *, size_t);
void	    faults_parse_markers(struct faults *, const char *);
void	    faults_parse_spec(struct faults *, const char *);
int	    faults_is_error(enum fault_kind);
int	    faults_applies(const struct faults *, unsigned long);
int	    faults_mode_parse(const char *);
const char *faults_mode_name(enum standin_mode);

#endif /* STANDIN_FAULTS_H */
