/*
 * settings.h: the stand-in's run-time settings, from one table shared by
 * the command line, the defaults and POST /_standin/config.
 */
#ifndef STANDIN_SETTINGS_H
#define STANDIN_SETTINGS_H

#include <stddef.h>

#include "faults.h"

struct standin_config {
	char	     *key;	   /* NULL: any non-empty key */
	int	      mode;	   /* enum standin_mode */
	double	      eta;	   /* seconds until ready */
	long	      queue_limit; /* processing at most; 0: no limit */
	double	      expire_s;	   /* URLs die after ready; 0: never */
	double	      delay_s;	   /* before each provider answer */
	char	     *faults_text; /* default markers; never NULL */
	struct faults faults;	   /* faults_text parsed */
};

int  settings_init(struct standin_config *);
void settings_clear(struct standin_config *);
int  settings_copy(struct standin_config *, const struct standin_config *);
int  settings_set(struct standin_config *, int, const char *, const char *,
     char *, size_t);
int  settings_flag_known(int);

#endif /* STANDIN_SETTINGS_H */
