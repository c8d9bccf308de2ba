/*
 * dispatch_script.c: print one of the dispatch Lua scripts (lib/dispatch.h)
 * so that make bench loads into Redis exactly what the programs run, and
 * times it there. A SEED script, the library's push() alone, fills users'
 * lists without taking slots.
 *
 * usage: dispatch-script ENQUEUE|TICK|RELEASE|PLACE|SEED
 */
#include <stdio.h>
#include <string.h>

#include "dispatch.h"

/* push(tier, user, id) only: ARGV now, tier, user, record id. */
#define DISPATCH_LUA_SEED \
	DISPATCH_LUA_LIB \
	"push(ARGV[2], ARGV[3], ARGV[4], false) " \
	"return 1"

static const struct {
	const char *name;
	const char *text;
} scripts[] = {
	{ "ENQUEUE", DISPATCH_LUA_ENQUEUE },
	{ "TICK", DISPATCH_LUA_TICK },
	{ "RELEASE", DISPATCH_LUA_RELEASE },
	{ "PLACE", DISPATCH_LUA_PLACE },
	{ "SEED", DISPATCH_LUA_SEED },
};

int
main(int argc, char *argv[])
{
	size_t i;

	if (argc != 2) {
		fprintf(stderr, "usage: dispatch-script NAME\n");
		return 2;
	}
	for (i = 0; i < sizeof(scripts) / sizeof(scripts[0]); i++) {
		if (strcmp(argv[1], scripts[i].name) == 0) {
			fputs(scripts[i].text, stdout);
			return 0;
		}
	}
	fprintf(stderr, "dispatch-script: no script %s\n", argv[1]);
	return 2;
}
