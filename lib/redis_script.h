/*
 * A Lua script that Redis runs by name: EVALSHA with its SHA1 instead of
 * EVAL with its text, so a command carries a few dozen bytes instead of
 * the whole script and Redis does not hash the text on every call. Redis
 * forgets scripts on a restart, a failover or SCRIPT FLUSH; a program
 * loads a script (SCRIPT LOAD) on each new connection before it first
 * runs it there, and when Redis answers NOSCRIPT it loads it again and
 * runs the same command once more.
 */
#ifndef SCENEGEN_REDIS_SCRIPT_H
#define SCENEGEN_REDIS_SCRIPT_H

#define REDIS_SCRIPT_SHA_LEN 40

struct redis_script {
	const char *text;
	char	    sha[REDIS_SCRIPT_SHA_LEN + 1]; /* "" until first used */
};

/* s's SHA1 in hex, as Redis names it; computed once. */
const char *redis_script_sha(struct redis_script *s);
/* 1 if err (a Redis error reply) says the script is not loaded. */
int	    redis_script_missing(const char *err);

#endif
