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

# How the programs link (tests/bench/hooks.sh measures why it matters: git
# runs the hook twice a push, and most of a short run is the dynamic
# loader mapping and faulting in shared libraries).
#
# STATIC=1 links libgit2 with the archives it needs (mbedTLS, http-parser,
# libssh2, PCRE2, zlib, OpenSSL's libcrypto for libssh2 and lib/hmac.c)
# and libyaml from the .a files Debian's -dev packages ship (tools/deps.sh
# installs them); libevent and cJSON stay shared.  libgit2's GSSAPI calls
# (Kerberos for HTTP, which flowgate never uses; Debian ships no archive of
# it, and the shared one brings six more libraries) are answered by
# lib/nocerts.c.  STATIC=0 links every library shared, as pkg-config says.
# The default is 1 when every archive is there, 0 otherwise, so a machine
# without them still builds.  All the archives are position-independent:
# the programs stay PIE, and -z text makes a non-PIC archive (DT_TEXTREL)
# a link error rather than a slow start.
#
# libcurl is never linked: lib/curl_lazy.c loads it when the first HTTP
# request is made.
LIBDIR     := $(shell $(PKG_CONFIG) --variable=libdir libgit2 2>/dev/null)
STATIC_A   := $(foreach l,git2 mbedtls mbedx509 mbedcrypto http_parser ssh2 \
                  pcre2-8 yaml crypto z,$(LIBDIR)/lib$(l).a)
ifeq ($(origin STATIC),undefined)
STATIC     := $(if $(LIBDIR),$(if $(strip $(foreach a,$(STATIC_A),\
                  $(if $(wildcard $(a)),,$(a)))),0,1),0)
endif
ifeq ($(STATIC),1)
PKG_LIBS   := $(STATIC_A) \
              $(shell $(PKG_CONFIG) --libs libevent libevent_pthreads \
                  libcjson 2>/dev/null) -lrt -ldl
# lib/nocerts.c replaces an mbedTLS and a libssh2 function, and libgit2's
# TLS set-up: by --wrap when libgit2 is linked in, the mbedTLS one by
# interposition when it is shared.
NOCERTS_LD := -Wl,--wrap=mbedtls_x509_crt_parse_file -Wl,--wrap=libssh2_init \
              -Wl,--wrap=git_mbedtls_stream_global_init \
              -Wl,--wrap=git_mbedtls_stream_new \
              -Wl,--wrap=git_mbedtls_stream_wrap \
              -Wl,--wrap=git_mbedtls__set_cert_location \
              -Wl,--wrap=p_mmap -Wl,--wrap=p_munmap \
              -Wl,-z,text
STATIC_DEF := -DFG_STATIC_GIT2
else
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(filter-out libcurl,$(PKGS)) \
                  2>/dev/null) -ldl
NOCERTS_LD :=
STATIC_DEF :=
endif
CUNIT_LIBS := $(shell $(PKG_CONFIG) --libs cunit 2>/dev/null)

# lib/ is searched for "quoted" includes only: lib/yaml.h and lib/err.h
# share their names with libyaml's <yaml.h> and glibc's <err.h>.
ALL_CFLAGS  = -std=c11 -D_DEFAULT_SOURCE -D_GNU_SOURCE $(WARN) $(OPT) \
              -iquote lib $(STATIC_DEF) $(PKG_CFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(OPT) $(NOCERTS_LD) $(LDFLAGS)
LIBS        = $(PKG_LIBS) -lpthread -lm

LIB_SRC   := $(sort $(filter-out lib/schemas_embed.c lib/nocerts.c lib/gitmap.c lib/curl_lazy.c,\
                 $(wildcard lib/*.c))) lib/schemas_embed.c
# Linked into every program, test and benchmark, not into lib/libflowgate.a:
# lib/nocerts.c (what libgit2 need not load), lib/gitmap.c (the pack index
# pages libgit2 maps, let go of; its --wrap is in NOCERTS_LD) and
# lib/curl_lazy.c (libcurl, loaded when first used, in place of -lcurl).
NOCERTS   := lib/nocerts.o lib/gitmap.o
CURL_LAZY := lib/curl_lazy.o
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

PROG_DEPS := $(NOCERTS) $(CURL_LAZY) lib/libflowgate.a
PROG_LIBS  = $(NOCERTS) lib/libflowgate.a $(CURL_LAZY) $(LIBS)

cli/flowgate: $(CLI_OBJ) $(PROG_DEPS)
	$(CC) $(ALL_LDFLAGS) -o $@ $(CLI_OBJ) $(PROG_LIBS)

hooks/flowgate-hook: $(HOOK_OBJ) $(PROG_DEPS)
	$(CC) $(ALL_LDFLAGS) -o $@ $(HOOK_OBJ) $(PROG_LIBS)

webhookd/flowgate-webhookd: $(WHD_OBJ) $(PROG_DEPS)
	$(CC) $(ALL_LDFLAGS) -o $@ $(WHD_OBJ) $(PROG_LIBS)

# test_store watches what the store syncs and deletes, in order, and has a
# writer die at its rename of a ref's lock.
WRAP_test_store := -Wl,--wrap=fdatasync -Wl,--wrap=fsync -Wl,--wrap=unlink \
                   -Wl,--wrap=syncfs -Wl,--wrap=rename

tests/unit/%: tests/unit/%.o tests/unit/unit.o $(PROG_DEPS)
	$(CC) $(ALL_LDFLAGS) $(WRAP_$(@F)) -o $@ $< tests/unit/unit.o \
	    $(PROG_LIBS) $(CUNIT_LIBS)

# Fuzz targets: built with tests/fuzz/replay.c for 'make check'; with
# clang's libFuzzer for 'make fuzz' (clang is not needed otherwise).
tests/fuzz/fuzz_%: tests/fuzz/fuzz_%.o tests/fuzz/replay.o $(PROG_DEPS)
	$(CC) $(ALL_LDFLAGS) -o $@ $< tests/fuzz/replay.o $(PROG_LIBS)

FUZZ_CFLAGS = -std=c11 -D_DEFAULT_SOURCE -D_GNU_SOURCE -g -O1 \
    -fsanitize=fuzzer,address,undefined -iquote lib $(STATIC_DEF) $(PKG_CFLAGS)
fuzz: $(FUZZ_SRC) $(LIB_SRC)
	for f in $(FUZZ_SRC); do \
	    clang $(FUZZ_CFLAGS) -o $${f%.c}-libfuzzer $$f $(LIB_SRC) \
	        lib/nocerts.c lib/gitmap.c lib/curl_lazy.c $(NOCERTS_LD) \
	        $(LIBS) || exit 1; \
	done

tests/bench/%: tests/bench/%.o $(PROG_DEPS)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(PROG_LIBS)

# Stand-ins the integration tests talk to (tests/tools/receiver.c: a deploy
# API that checks signatures).
tests/tools/%: tests/tools/%.o $(PROG_DEPS)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(PROG_LIBS)

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
