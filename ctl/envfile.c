/*
 * The environment file the systemd units read (EnvironmentFile=), so that
 * scenegenctl on the host sees the same settings as the services. The
 * syntax is the common subset of systemd's and the shell's: comments,
 * blank lines, an optional "export ", KEY=VALUE with the value optionally
 * in single or double quotes. Variables already in the environment win.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

#define ENVFILE_LINE_MAX 8192

/* Strip leading and trailing white space in place; returns the start. */
static char *
envfile_trim(char *s)
{
	size_t len;

	while (isspace((unsigned char)*s))
		s++;
	len = strlen(s);
	while (len > 0 && isspace((unsigned char)s[len - 1]))
		s[--len] = '\0';
	return s;
}

/* 1 if name is a valid environment variable name. */
static int
envfile_name_ok(const char *name)
{
	const char *p;

	if (*name == '\0' || isdigit((unsigned char)*name))
		return 0;
	for (p = name; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && *p != '_')
			return 0;
	return 1;
}

/* Apply one line; -1 if it is not a comment, blank or KEY=VALUE. */
static int
envfile_line(char *line)
{
	char  *s, *eq, *value;
	size_t len;

	s = envfile_trim(line);
	if (*s == '\0' || *s == '#' || *s == ';')
		return 0;
	if (strncmp(s, "export ", 7) == 0)
		s = envfile_trim(s + 7);
	eq = strchr(s, '=');
	if (eq == NULL)
		return -1;
	*eq = '\0';
	s = envfile_trim(s);
	if (!envfile_name_ok(s))
		return -1;
	value = envfile_trim(eq + 1);
	len = strlen(value);
	if (len >= 2 && (value[0] == '"' || value[0] == '\'') &&
	    value[len - 1] == value[0]) {
		value[len - 1] = '\0';
		value++;
	}
	if (setenv(s, value, 0) == -1)
		return -1;
	return 0;
}

int
envfile_load(const char *path, int must_exist)
{
	FILE *fp;
	char  line[ENVFILE_LINE_MAX];
	int   lineno = 0, rc = 0;

	fp = fopen(path, "r");
	if (fp == NULL) {
		if (!must_exist && errno == ENOENT)
			return 0;
		if (!must_exist && errno == EACCES) {
			/* Not root nor group scenegen: say so if it matters. */
			if (getenv("DATABASE_URL") == NULL)
				ctl_warnx("cannot read %s: %s; settings from "
					  "the environment only",
				    path, strerror(errno));
			return 0;
		}
		ctl_warnx("cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		lineno++;
		if (strchr(line, '\n') == NULL && !feof(fp)) {
			ctl_warnx("%s:%d: line too long", path, lineno);
			rc = -1;
			break;
		}
		if (envfile_line(line) == -1) {
			ctl_warnx("%s:%d: not NAME=VALUE", path, lineno);
			rc = -1;
			break;
		}
	}
	if (rc == 0 && ferror(fp)) {
		ctl_warnx("cannot read %s: %s", path, strerror(errno));
		rc = -1;
	}
	fclose(fp);
	return rc;
}
