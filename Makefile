# scenegen — plain Makefile: pkg-config, strict warnings, -Werror.
#
#   make            build build/scenegen-api, build/scenegend, ...
#   make run        install what is missing, build, start the local stack
#   make stop       stop it
#   make test       install, build (plain and ASan+UBSan), run every test
#   make bench      benchmarks against baselines measured in the same run
#   make valgrind   scenegend under valgrind for thousands of jobs (JOBS=)
#   make install    PREFIX=/usr/local DESTDIR=

PREFIX	?= /usr/local
DESTDIR	?=
SAN	?= 0
BUILD	?= $(if $(filter 1,$(SAN)),build-asan,build)

# Debian packages a fresh Debian 12 machine may lack.
DEB_PACKAGES = build-essential pkg-config libfcgi-dev libhiredis-dev \
	libcjson-dev libcurl4-openssl-dev libevent-dev libssl-dev libpq-dev \
	libsystemd-dev zlib1g-dev postgresql-15 postgresql-client-15 \
	redis-server redis-tools nginx-light libnginx-mod-nchan curl perl procps util-linux \
	spawn-fcgi systemd mandoc clang libclang-rt-14-dev valgrind \
	clang-format clang-tools chromium

# What each longer target needs beyond DEB_PACKAGES: `make deps` installs
# DEB_PACKAGES and the list of the target it runs for (DEPS_EXTRA), e.g.
# `make bench` on a fresh machine installs wrk first. pgbench is in
# postgresql-15; t/ops-deps-complete.t checks these lists against every
# command the scripts run.
DEB_PACKAGES_TEST = systemd-container binutils iproute2
DEB_PACKAGES_BENCH = wrk postgresql-15 postgresql-client-15
DEB_PACKAGES_CHAOS = postgresql-15 redis-server redis-tools procps
DEB_PACKAGES_SOAK = $(DEB_PACKAGES_CHAOS)
DEB_PACKAGES_VALGRIND = valgrind $(DEB_PACKAGES_CHAOS)
DEB_PACKAGES_FUZZ = clang libclang-rt-14-dev
DEB_PACKAGES_DEB = binutils dpkg gzip git
DEB_LISTS = TEST BENCH CHAOS SOAK VALGRIND FUZZ DEB
DEPS_EXTRA ?=

CC	?= cc
PKGS	 = fcgi hiredis libcjson libcurl libevent libpq libsystemd libcrypto zlib
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
WARN	 = -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wformat=2 \
	-Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
CFLAGS	?= -O2 -g
CFLAGS	+= -std=c11 -D_GNU_SOURCE -fstack-protector-strong -Ilib $(WARN) \
	$(PKG_CFLAGS)
LDFLAGS	?=
ifeq ($(SAN),1)
CFLAGS	:= $(filter-out -O2,$(CFLAGS)) -O1 -fsanitize=address,undefined \
	-fno-sanitize-recover=undefined -fno-omit-frame-pointer
LDFLAGS	+= -fsanitize=address,undefined
endif

LIB_SRCS	= $(wildcard lib/*.c)
API_SRCS	= $(wildcard cgi/*.c)
DAEMON_SRCS	= $(wildcard daemon/*.c)
STANDIN_SRCS	= $(wildcard standin/*.c)
CTL_SRCS	= $(wildcard ctl/*.c)

objs = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

API_LIBS	= -lfcgi -lpq -lhiredis -lcjson -lcrypto -lsystemd
DAEMON_LIBS	= -lpq -lhiredis -lcjson -lcurl -levent -lsystemd -lcrypto -lm \
		  -pthread
STANDIN_LIBS	= -levent -lcjson -lz -lm -lhiredis -lcrypto
CTL_LIBS	= -lpq -lhiredis -lcjson -lcrypto -lm

PROGRAMS = $(if $(API_SRCS),$(BUILD)/scenegen-api) \
	$(if $(DAEMON_SRCS),$(BUILD)/scenegend) \
	$(if $(STANDIN_SRCS),$(BUILD)/modelslab-standin) \
	$(if $(CTL_SRCS),$(BUILD)/scenegenctl)

.PHONY: all deps run stop test test-plain test-san bench install deb clean \
	chaos soak fuzz valgrind print-deb-packages style format

all: $(PROGRAMS)

$(BUILD)/scenegen-api: $(call objs,$(API_SRCS) $(LIB_SRCS))
	$(CC) $(LDFLAGS) -o $@ $^ $(API_LIBS)

$(BUILD)/scenegend: $(call objs,$(DAEMON_SRCS) $(LIB_SRCS))
	$(CC) $(LDFLAGS) -o $@ $^ $(DAEMON_LIBS)

$(BUILD)/modelslab-standin: $(call objs,$(STANDIN_SRCS) $(LIB_SRCS))
	$(CC) $(LDFLAGS) -o $@ $^ $(STANDIN_LIBS)

$(BUILD)/scenegenctl: $(call objs,$(CTL_SRCS) $(LIB_SRCS))
	$(CC) $(LDFLAGS) -o $@ $^ $(CTL_LIBS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# Installs only what is missing; a no-op on a machine that has it all.
deps:
	@missing=$$(for p in $(DEB_PACKAGES) $(DEPS_EXTRA); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
		grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends $$missing \
		>/dev/null || exit 1; \
	fi

# Each target's own packages, installed by its `deps` prerequisite.
test test-plain test-san: DEPS_EXTRA = $(DEB_PACKAGES_TEST) $(foreach l,$(DEB_LISTS),$(DEB_PACKAGES_$(l)))
bench: DEPS_EXTRA = $(DEB_PACKAGES_BENCH)
chaos: DEPS_EXTRA = $(DEB_PACKAGES_CHAOS)
soak: DEPS_EXTRA = $(DEB_PACKAGES_SOAK)
valgrind: DEPS_EXTRA = $(DEB_PACKAGES_VALGRIND)
fuzz: DEPS_EXTRA = $(DEB_PACKAGES_FUZZ)
deb: DEPS_EXTRA = $(DEB_PACKAGES_DEB)

# One line per list: its name and packages (t/ops-deps-complete.t).
print-deb-packages:
	@echo DEB_PACKAGES $(DEB_PACKAGES)
	@$(foreach l,$(DEB_LISTS),echo DEB_PACKAGES_$(l) $(DEB_PACKAGES_$(l));)

run: deps
	@$(MAKE) --no-print-directory all
	@scripts/stack.sh start run

stop:
	@scripts/stack.sh stop run

test: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory all SAN=1
	@scripts/test.sh build
	@scripts/test.sh build-asan

test-plain: deps all
	@scripts/test.sh build

test-san: deps
	@$(MAKE) --no-print-directory all SAN=1
	@scripts/test.sh build-asan

bench: deps all
	@bench/run.sh

install: all
	@deploy/install.sh "$(DESTDIR)" "$(PREFIX)" "$(BUILD)"

deb: deps all
	@deploy/build-deb.sh "$(BUILD)"

chaos: deps all
	@chaos/run.sh $(if $(DURATION),--duration $(DURATION))

soak: deps all
	@chaos/soak.sh $(if $(MINUTES),--minutes $(MINUTES))

# The plain build under valgrind (not the ASan one): zero errors, zero leaks.
valgrind: deps all
	@chaos/valgrind.sh $(if $(JOBS),--jobs $(JOBS))

fuzz: deps
	@fuzz/build.sh && fuzz/run.sh $(if $(FUZZ_SECONDS),$(FUZZ_SECONDS),60)

# The house layout (.clang-format, KNF) and no assignment in conditions.
style: deps
	@scripts/check-style.sh

format: deps
	@scripts/check-style.sh --fix --format-only

clean:
	rm -rf build build-asan build-fuzz
