# flowgate - top-level Makefile.
#
#   make                 build lib/libflowgate.a and the three programs
#   make check           install what is missing, build, run every test
#   make check SAN=1     the same under AddressSanitizer + UBSan
#   make run             install what is missing, build, serve the demo
#   make bench           run the benchmarks under tests/bench/
#   make fuzz            build the libFuzzer targets (needs clang)
#   make install         PREFIX=/usr/local DESTDIR=
#   make clean
#
# Warnings are errors when CI=true (or WERROR=1).  Objects are rebuilt when
# the flags change, so switching SAN on and off is safe.

PREFIX   ?= /usr/local
DESTDIR  ?=
CC       ?= cc
PKGS     := libgit2 libevent libevent_pthreads libcurl libcjson yaml-0.1 libcrypto \
            zlib
PKG_CONFIG ?= pkg-config

WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wformat=2 -Wvla
ifeq ($(CI),true)
WERROR   ?= 1
endif
ifeq ($(WERROR),1)
WARN     += -Werror
endif
ifeq ($(SAN),1)
OPT      := -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all \
            -fno-omit-frame-pointer
else
OPT      ?= -g -O2
endif

PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
CUNIT_LIBS := $(shell $(PKG_CONFIG) --libs cunit 2>/dev/null)

# lib/ is searched for "quoted" includes only: lib/yaml.h and lib/err.h
# share their names with libyaml's <yaml.h> and glibc's <err.h>.
ALL_CFLAGS  = -std=c11 -D_DEFAULT_SOURCE -D_GNU_SOURCE $(WARN) $(OPT) \
              -iquote lib $(PKG_CFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(OPT) $(LDFLAGS)
LIBS        = $(PKG_LIBS) -lpthread -lm

LIB_SRC   := $(sort $(filter-out lib/schemas_embed.c lib/nocerts.c,\
                 $(wildcard lib/*.c))) lib/schemas_embed.c
# Linked into the programs only: see lib/nocerts.c.
NOCERTS   := lib/nocerts.o
LIB_OBJ   := $(LIB_SRC:.c=.o)
CLI_OBJ   := $(patsubst %.c,%.o,$(wildcard cli/*.c))
HOOK_OBJ  := $(patsubst %.c,%.o,$(wildcard hooks/*.c))
WHD_OBJ   := $(patsubst %.c,%.o,$(wildcard webhookd/*.c))
UNIT_SRC  := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN  := $(UNIT_SRC:.c=)
BENCH_SRC := $(sort $(wildcard tests/bench/*.c))
BENCH_BIN := $(BENCH_SRC:.c=)
TOOLS_SRC := $(sort $(wildcard tests/tools/*.c))
TOOLS_BIN := $(TOOLS_SRC:.c=)
FUZZ_SRC  := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN  := $(FUZZ_SRC:.c=)
SCHEMAS   := $(sort $(wildcard schemas/*.json templates/*.yaml))

PROGS := cli/flowgate hooks/flowgate-hook webhookd/flowgate-webhookd

all: $(PROGS)

# Rebuild everything when the compiler flags change.
.build-flags: FORCE
	@echo '$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS)' | cmp -s - $@ || \
	    echo '$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS)' > $@

%.o: %.c .build-flags
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

# The JSON Schemas and the templates' default configs are compiled in:
# one source of truth, no install paths.
tools/embed: tools/embed.c
	$(CC) -std=c11 -O1 -Wall -Wextra -o $@ $<

lib/schemas_embed.c: tools/embed $(SCHEMAS)
	tools/embed $(SCHEMAS) > $@.tmp && mv $@.tmp $@

lib/libflowgate.a: $(LIB_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

cli/flowgate: $(CLI_OBJ) $(NOCERTS) lib/libflowgate.a
	$(CC) $(ALL_LDFLAGS) -o $@ $(CLI_OBJ) $(NOCERTS) lib/libflowgate.a \
	    $(LIBS)

hooks/flowgate-hook: $(HOOK_OBJ) $(NOCERTS) lib/libflowgate.a
	$(CC) $(ALL_LDFLAGS) -o $@ $(HOOK_OBJ) $(NOCERTS) lib/libflowgate.a \
	    $(LIBS)

webhookd/flowgate-webhookd: $(WHD_OBJ) $(NOCERTS) lib/libflowgate.a
	$(CC) $(ALL_LDFLAGS) -o $@ $(WHD_OBJ) $(NOCERTS) lib/libflowgate.a \
	    $(LIBS)

tests/unit/%: tests/unit/%.o tests/unit/unit.o lib/libflowgate.a
	$(CC) $(ALL_LDFLAGS) -o $@ $< tests/unit/unit.o lib/libflowgate.a \
	    $(LIBS) $(CUNIT_LIBS)

# Fuzz targets: built with tests/fuzz/replay.c for 'make check'; with
# clang's libFuzzer for 'make fuzz' (clang is not needed otherwise).
tests/fuzz/fuzz_%: tests/fuzz/fuzz_%.o tests/fuzz/replay.o lib/libflowgate.a
	$(CC) $(ALL_LDFLAGS) -o $@ $< tests/fuzz/replay.o lib/libflowgate.a \
	    $(LIBS)

FUZZ_CFLAGS = -std=c11 -D_DEFAULT_SOURCE -D_GNU_SOURCE -g -O1 \
    -fsanitize=fuzzer,address,undefined -iquote lib $(PKG_CFLAGS)
fuzz: $(FUZZ_SRC) $(LIB_SRC)
	for f in $(FUZZ_SRC); do \
	    clang $(FUZZ_CFLAGS) -o $${f%.c}-libfuzzer $$f $(LIB_SRC) \
	        $(LIBS) || exit 1; \
	done

tests/bench/%: tests/bench/%.o $(NOCERTS) lib/libflowgate.a
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(NOCERTS) lib/libflowgate.a $(LIBS)

# Stand-ins the integration tests talk to (tests/tools/receiver.c: a deploy
# API that checks signatures).
tests/tools/%: tests/tools/%.o lib/libflowgate.a
	$(CC) $(ALL_LDFLAGS) -o $@ $< lib/libflowgate.a $(LIBS)

deps:
	@sh tools/deps.sh

check: deps
	@$(MAKE) --no-print-directory all-tests
	@sh tests/run.sh

all-tests: $(PROGS) $(UNIT_BIN) $(BENCH_BIN) $(TOOLS_BIN) $(FUZZ_BIN)

bench: deps
	@$(MAKE) --no-print-directory all-tests
	@for b in tests/bench/*.sh; do [ -f "$$b" ] && sh "$$b"; done; true

run: deps
	@$(MAKE) --no-print-directory all
	@sh tools/demo.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(PROGS) $(DESTDIR)$(PREFIX)/bin/

clean:
	rm -f lib/*.o lib/*.d cli/*.o cli/*.d hooks/*.o hooks/*.d \
	    webhookd/*.o webhookd/*.d tests/unit/*.o tests/unit/*.d \
	    tests/bench/*.o tests/bench/*.d tests/fuzz/*.o tests/fuzz/*.d \
	    tests/tools/*.o tests/tools/*.d \
	    tests/fuzz/*-libfuzzer $(FUZZ_BIN) lib/libflowgate.a \
	    lib/schemas_embed.c tools/embed $(PROGS) $(UNIT_BIN) \
	    $(BENCH_BIN) $(TOOLS_BIN) .build-flags

FORCE:
.PHONY: all check all-tests bench fuzz run install clean deps FORCE
.SECONDARY:

-include $(wildcard lib/*.d cli/*.d hooks/*.d webhookd/*.d tests/unit/*.d \
    tests/bench/*.d tests/fuzz/*.d tests/tools/*.d)
