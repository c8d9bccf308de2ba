/*
 * scenegenctl show record_id: one row of image_generations, every column,
 * as "column  value" lines (control characters from clients or the
 * provider shown as '?', so they cannot drive the terminal) or, with -j,
 * as the JSON object PostgreSQL's row_to_json() makes of it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ctl.h"
#include "uuid.h"

/* Write s with control characters replaced. */
static void
show_safe(const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		putchar(c < 0x20 || c == 0x7f ? '?' : c);
	}
}

/* One "column  value" line; nested JSON printed compactly. */
static void
show_item(const cJSON *item)
{
	char *text;

	printf("%-24s ", item->string);
	if (cJSON_IsNull(item))
		printf("null");
	else if (cJSON_IsString(item))
		show_safe(item->valuestring);
	else {
		text = cJSON_PrintUnformatted(item);
		if (text != NULL)
			show_safe(text);
		free(text);
	}
	putchar('\n');
}

int
ctl_show(struct ctl_settings *s, int argc, char **argv)
{
	const char  *params[1];
	const cJSON *item;
	PGconn	    *conn;
	PGresult    *res = NULL;
	cJSON	    *row = NULL;
	char	     err[1024];
	int	     rc = CTL_EXIT_FAIL;

	if (argc != 2) {
		ctl_usage_error("show: needs one record_id");
		return CTL_EXIT_USAGE;
	}
	if (!uuid_is_valid(argv[1])) {
		ctl_usage_error("show: %s is not a UUID", argv[1]);
		return CTL_EXIT_USAGE;
	}
	if (ctl_settings_need("DATABASE_URL", s->database_url) == -1)
		return CTL_EXIT_FAIL;
	conn = ctl_db_connect(s, err, sizeof(err));
	if (conn == NULL) {
		ctl_warnx("show: %s", err);
		return CTL_EXIT_FAIL;
	}
	params[0] = argv[1];
	res = ctl_db_query(conn, "show: SELECT image_generations",
	    "SELECT row_to_json(g)::text FROM image_generations g "
	    "WHERE id = $1::uuid",
	    1, params);
	if (res == NULL)
		goto done;
	if (PQntuples(res) == 0) {
		ctl_warnx("show: no record %s", argv[1]);
		goto done;
	}
	if (s->json) {
		printf("%s\n", PQgetvalue(res, 0, 0));
		rc = CTL_EXIT_OK;
		goto done;
	}
	row = cJSON_Parse(PQgetvalue(res, 0, 0));
	if (row == NULL) {
		ctl_warnx("show: cannot parse the row");
		goto done;
	}
	cJSON_ArrayForEach (item, row)
		show_item(item);
	rc = CTL_EXIT_OK;
done:
	cJSON_Delete(row);
	PQclear(res);
	PQfinish(conn);
	return rc;
}
