# Kukeon build. One Makefile; every program has its own main and links only what it needs.
#
#   make deps        install build and test dependencies (apt-get; idempotent)
#   make             build everything into $(BUILD)
#   make check       build and run the whole test suite (unit + integration)
#   make check SANITIZE=address,undefined
#   make install PREFIX=/usr/local DESTDIR=     (make uninstall removes exactly that)
#   make deb         the Debian package, in $(BUILD)/deb
#   make demo        deps, build and a first run of the product
#   make fuzz        build the libFuzzer targets (clang) and run each for FUZZ_SECONDS (60)
#   make bench       Kukeon against ctr and podman (root; installs podman), writes bench/RESULTS.md
#   make clean

CC       ?= cc
PREFIX   ?= /usr/local
DESTDIR  ?=
SANITIZE ?=
BUILD    ?= build$(if $(SANITIZE),-san)
VERSION  ?= $(shell cat VERSION 2>/dev/null || echo v0.0.0-dev)

# The containerd API protos come from Debian's golang-github-containerd-containerd-dev.
GOCODE   ?= /usr/share/gocode/src
CTRD_API := github.com/containerd/containerd/api

GEN := $(BUILD)/gen
OBJ := $(BUILD)/obj
LIB := $(BUILD)/lib
BIN := $(BUILD)/bin
LIBEXEC := $(BUILD)/libexec

# ---- flags -------------------------------------------------------------------------------------
WARN     := -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wvla -Wno-unused-parameter
HARDEN   := -fstack-protector-strong -fPIE
HARDEN_LD:= -pie -Wl,-z,relro,-z,now
ifeq ($(SANITIZE),)
OPT      := -O2 -g -D_FORTIFY_SOURCE=3
else
# Fortify and the sanitizers intercept the same calls; the sanitizers see more.
OPT      := -O1 -g -fno-omit-frame-pointer -fsanitize=$(SANITIZE) -fno-sanitize-recover=all
HARDEN_LD+= -fsanitize=$(SANITIZE)
endif
CPPFLAGS_ALL := -D_GNU_SOURCE -DKUKEON_VERSION='"$(VERSION)"' -I. -I$(GEN) $(shell pkg-config --cflags libnl-3.0 2>/dev/null)
CFLAGS_ALL   := -std=gnu11 $(OPT) $(WARN) $(HARDEN) -MMD -MP $(CFLAGS)
# Generated code is not ours to fix: same flags, but a warning in it must not stop the build.
CFLAGS_GEN   := -std=gnu11 $(OPT) -w $(HARDEN) -MMD -MP $(CFLAGS)
LDFLAGS_ALL  := $(HARDEN_LD) -Wl,--as-needed $(LDFLAGS)

# ---- external libraries, by purpose -----------------------------------------------------------
LIBS_JSON    := -ljansson
LIBS_YAML    := -lyaml
LIBS_PB      := -lprotobuf-c
LIBS_SEC     := -lseccomp -lcap-ng
LIBS_NL      := -lnl-route-3 -lnl-3
LIBS_GRPC    := -lgrpc -lgpr
LIBS_CRYPTO  := -lcrypto
LIBS_CURL    := $(shell pkg-config --libs libcurl 2>/dev/null || echo -lcurl)
LIBS_CMOCKA  := -lcmocka

# ---- sources -----------------------------------------------------------------------------------
COMMON_SRCS   := $(wildcard common/*.c)
IPC_SRCS      := $(wildcard ipc/*.c)
SECURITY_SRCS := $(wildcard security/*.c)
IPC_PROTOS    := $(wildcard ipc/proto/*.proto)
IPC_PB_SRCS   := $(patsubst %.proto,$(GEN)/%.pb-c.c,$(IPC_PROTOS))
IPC_PB_HDRS   := $(IPC_PB_SRCS:.c=.h)

CTRD_PROTOS   := $(shell cd $(GOCODE) 2>/dev/null && find $(CTRD_API) -name '*.proto' ! -path '*/ttrpc/*' ! -path '*/introspection/*' 2>/dev/null | LC_ALL=C sort)
CTRD_PB_SRCS  := $(patsubst %.proto,$(GEN)/%.pb-c.c,$(CTRD_PROTOS)) \
                 $(addprefix $(GEN)/google/protobuf/,any.pb-c.c empty.pb-c.c field_mask.pb-c.c timestamp.pb-c.c)
CTRD_PB_STAMP := $(GEN)/.containerd-protos

# Each program directory: main.c makes the binary; its other files make lib<dir>.a so that tests can
# link the same code the program runs.
PROGRAMS_BIN     := kuke kukeond
PROGRAMS_LIBEXEC := kuke-cgd kuke-netd kuke-ctrd kuke-fetchd
PROGRAMS := $(PROGRAMS_BIN) $(PROGRAMS_LIBEXEC)
prog_lib_srcs = $(filter-out $(1)/main.c,$(wildcard $(1)/*.c))

objs = $(patsubst %.c,$(OBJ)/%.o,$(1))
gen_objs = $(patsubst $(GEN)/%.c,$(OBJ)/gen/%.o,$(1))

LIBCOMMON   := $(LIB)/libcommon.a
LIBIPC      := $(LIB)/libipc.a
LIBSECURITY := $(LIB)/libsecurity.a
LIBCTRDPB   := $(LIB)/libctrdpb.a
prog_lib = $(LIB)/lib$(1).a

# Link lines, narrowest first. A program names exactly the libraries it uses.
# kuke runs the same controller library as the API worker when it works in-process.
LINK_kuke      := $(call prog_lib,kuke) $(call prog_lib,kukeond) $(LIBIPC) $(LIBSECURITY) $(LIBCOMMON) $(LIBS_PB) $(LIBS_YAML) $(LIBS_JSON) $(LIBS_SEC)
LINK_kukeond   := $(call prog_lib,kukeond) $(LIBIPC) $(LIBSECURITY) $(LIBCOMMON) $(LIBS_PB) $(LIBS_YAML) $(LIBS_JSON) $(LIBS_SEC)
LINK_kuke-cgd  := $(call prog_lib,kuke-cgd) $(LIBIPC) $(LIBSECURITY) $(LIBCOMMON) $(LIBS_PB) $(LIBS_SEC)
LINK_kuke-netd := $(call prog_lib,kuke-netd) $(LIBIPC) $(LIBSECURITY) $(LIBCOMMON) $(LIBS_PB) $(LIBS_SEC) $(LIBS_NL) $(LIBS_JSON)
LINK_kuke-ctrd := $(call prog_lib,kuke-ctrd) $(LIBIPC) $(LIBSECURITY) $(LIBCTRDPB) $(LIBCOMMON) $(LIBS_PB) $(LIBS_SEC) $(LIBS_GRPC) $(LIBS_CRYPTO) $(LIBS_JSON)
# kuke-fetchd: the registry client (libcurl with OpenSSL; libcrypto for the blob digests).
LINK_kuke-fetchd := $(call prog_lib,kuke-fetchd) $(LIBIPC) $(LIBSECURITY) $(LIBCOMMON) $(LIBS_PB) $(LIBS_SEC) $(LIBS_CURL) $(LIBS_CRYPTO) $(LIBS_JSON)

# Tests may link anything; --as-needed keeps each binary to what it uses.
TEST_LINK := $(foreach p,$(PROGRAMS),$(call prog_lib,$(p))) $(LIBIPC) $(LIBSECURITY) $(LIBCTRDPB) $(LIBCOMMON) \
             $(LIBS_CMOCKA) $(LIBS_PB) $(LIBS_YAML) $(LIBS_JSON) $(LIBS_SEC) $(LIBS_NL) $(LIBS_GRPC) $(LIBS_CRYPTO) \
             $(LIBS_CURL)
UNIT_TESTS  := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(wildcard tests/unit/test_*.c))
INTEG_TESTS := $(patsubst tests/integration/%.c,$(BUILD)/tests/integration/%,$(wildcard tests/integration/test_*.c))
# Small programs the tests run (sandbox probes and the like).
TEST_TOOLS  := $(patsubst tests/tools/%.c,$(BUILD)/tests/tools/%,$(wildcard tests/tools/*.c))

BINARIES := $(addprefix $(BIN)/,$(PROGRAMS_BIN)) $(addprefix $(LIBEXEC)/,$(PROGRAMS_LIBEXEC)) $(LIBEXEC)/kukepause $(LIBEXEC)/kuketty

.PHONY: all deps check check-run check-build unit integration demo install uninstall clean fuzz format help deb bench
.DEFAULT_GOAL := all
# Generated sources and test objects are not throwaway intermediates: keep them between builds.
.SECONDARY:

all: $(BINARIES)

help:
	@sed -n '2,13p' Makefile | sed 's/^# \{0,1\}//'

deps:
	@scripts/deps.sh

# ---- code generation ---------------------------------------------------------------------------
$(CTRD_PB_STAMP): scripts/gen-containerd-protos.sh
	@if [ -z "$(CTRD_PROTOS)" ]; then echo "containerd API protos not found under $(GOCODE); run 'make deps'" >&2; exit 1; fi
	@echo "  GEN     containerd API (protoc-c)"
	@scripts/gen-containerd-protos.sh $(GOCODE) $(GEN)
	@touch $@
$(CTRD_PB_SRCS) $(CTRD_PB_SRCS:.c=.h): $(CTRD_PB_STAMP) ;

$(GEN)/ipc/proto/%.pb-c.c $(GEN)/ipc/proto/%.pb-c.h: ipc/proto/%.proto
	@mkdir -p $(dir $@)
	@echo "  GEN     $<"
	@protoc-c -I. --c_out=$(GEN) $<

# ---- compilation -------------------------------------------------------------------------------
# Every object waits for the ipc headers; only ctrd and tests need the containerd ones.
$(OBJ)/%.o: %.c | $(IPC_PB_HDRS)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CPPFLAGS_ALL) $(CPPFLAGS) $(CFLAGS_ALL) -c -o $@ $<

$(OBJ)/gen/%.o: $(GEN)/%.c
	@mkdir -p $(dir $@)
	@echo "  CC      $(notdir $<)"
	@$(CC) $(CPPFLAGS_ALL) $(CPPFLAGS) $(CFLAGS_GEN) -c -o $@ $<

$(call objs,$(wildcard kuke-ctrd/*.c) $(wildcard tests/integration/*.c) $(wildcard tests/unit/*.c) $(wildcard tests/fuzz/*.c)): $(CTRD_PB_STAMP)

$(LIBCOMMON): $(call objs,$(COMMON_SRCS))
$(LIBSECURITY): $(call objs,$(SECURITY_SRCS))
$(LIBIPC): $(call objs,$(IPC_SRCS)) $(call gen_objs,$(IPC_PB_SRCS))
$(LIBCTRDPB): $(call gen_objs,$(CTRD_PB_SRCS))
define prog_rules
$(call prog_lib,$(1)): $(call objs,$(call prog_lib_srcs,$(1)))
endef
$(foreach p,$(PROGRAMS),$(eval $(call prog_rules,$(p))))

$(LIB)/%.a:
	@mkdir -p $(dir $@)
	@echo "  AR      $(notdir $@)"
	@rm -f $@
	@ar rcs $@ $^ $(if $^,,$(OBJ)/.empty.o)

$(OBJ)/.empty.o:
	@mkdir -p $(dir $@)
	@echo '' | $(CC) -x c -c -o $@ -

ALL_LIBS := $(LIBCOMMON) $(LIBIPC) $(LIBSECURITY) $(LIBCTRDPB) $(foreach p,$(PROGRAMS),$(call prog_lib,$(p)))
$(ALL_LIBS): | $(OBJ)/.empty.o

define link_rule
$(2)/$(1): $(OBJ)/$(1)/main.o $(filter %.a,$(LINK_$(1)))
	@mkdir -p $$(dir $$@)
	@echo "  LD      $$@"
	@$$(CC) $$(CFLAGS_ALL) $$(LDFLAGS_ALL) -o $$@ $(OBJ)/$(1)/main.o $(LINK_$(1))
endef
$(foreach p,$(PROGRAMS_BIN),$(eval $(call link_rule,$(p),$(BIN))))
$(foreach p,$(PROGRAMS_LIBEXEC),$(eval $(call link_rule,$(p),$(LIBEXEC))))

# kukepause is PID 1 of every cell's root container: static, no libc surprises, no sanitizer runtime.
$(LIBEXEC)/kukepause: kukepause/main.c
	@mkdir -p $(dir $@)
	@echo "  LD      $@ (static)"
	@$(CC) -std=gnu11 -O2 -g0 $(WARN) -D_FORTIFY_SOURCE=2 -fstack-protector-strong -static -o $@ $<

# kuketty is PID 1 of every attachable container (docs/terminals.md): static, like kukepause.
KUKETTY_SRCS := kuketty/main.c common/ttyrelay.c common/err.c
$(LIBEXEC)/kuketty: $(KUKETTY_SRCS) common/ttyrelay.h common/err.h
	@mkdir -p $(dir $@)
	@echo "  LD      $@ (static)"
	@$(CC) -std=gnu11 -D_GNU_SOURCE -I. -O2 -g0 $(WARN) -D_FORTIFY_SOURCE=2 -fstack-protector-strong -static -o $@ $(KUKETTY_SRCS)

# ---- tests -------------------------------------------------------------------------------------
$(BUILD)/tests/%: $(OBJ)/tests/%.o $(ALL_LIBS)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $< $(TEST_LINK)

check-build: all $(UNIT_TESTS) $(INTEG_TESTS) $(TEST_TOOLS)

# check and demo install what they need first, then re-read this Makefile in a sub-make: the list of
# containerd protos is computed when the Makefile is read, and on a fresh machine the package that
# provides them is only there after deps.
check:
	@scripts/deps.sh
	@$(MAKE) --no-print-directory check-run

check-run: check-build
	@BUILD=$(BUILD) tests/run.sh

unit: check-build
	@BUILD=$(BUILD) tests/run.sh unit

integration: check-build
	@BUILD=$(BUILD) tests/run.sh integration

# ---- benchmarks (root; installs podman) ---------------------------------------------------------
bench: all
	@BUILD=$(BUILD) bench/run.sh $(BENCH_ARGS)

# ---- fuzzing (clang + libFuzzer) ---------------------------------------------------------------
FUZZ_BUILD := build-fuzz
# Each target runs for FUZZ_SECONDS (default 60) from its seed corpus; a crash stops with its input.
FUZZ_SECONDS ?= 60
fuzz:
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=clang SANITIZE=address,undefined \
	    CFLAGS="-fsanitize=fuzzer-no-link" fuzz-targets
	@for t in $(FUZZ_BUILD)/fuzz/fuzz_*; do \
	    echo "  FUZZ    $$t ($(FUZZ_SECONDS) s)"; mkdir -p $(FUZZ_BUILD)/corpus/$${t##*/}; \
	    $$t -max_total_time=$(FUZZ_SECONDS) -max_len=65536 $(FUZZ_BUILD)/corpus/$${t##*/} \
	        >$(FUZZ_BUILD)/$${t##*/}.log 2>&1; rc=$$?; tail -n 2 $(FUZZ_BUILD)/$${t##*/}.log; \
	    [ $$rc -eq 0 ] || { echo "$$t failed: see $(FUZZ_BUILD)/$${t##*/}.log"; exit 1; }; \
	done
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))
.PHONY: fuzz-targets
fuzz-targets: $(FUZZ_TARGETS)
$(BUILD)/fuzz/%: $(OBJ)/tests/fuzz/%.o $(ALL_LIBS)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) $(CFLAGS_ALL) -fsanitize=fuzzer $(LDFLAGS_ALL) -o $@ $< $(TEST_LINK)

# ---- product -----------------------------------------------------------------------------------
demo:
	@scripts/deps.sh
	@$(MAKE) --no-print-directory all
	@scripts/demo.sh $(BUILD)

# Install layout (dist/install.sh keeps a manifest, so uninstall removes exactly what install put):
#   $(PREFIX)/bin/{kuke,kukeond}   $(PREFIX)/libexec/kukeon/{kuke-cgd,kuke-netd,kuke-ctrd,kuke-fetchd,kukepause,kuketty}
#   $(UNITDIR)/kukeond.service     $(MANDIR)/man{1,5,8}/...   bash, zsh and fish completions
#   $(SYSCONFDIR)/kukeon/kukeond.yaml (kept if present)   $(SYSCONFDIR)/logrotate.d/kukeon
SYSCONFDIR ?= /etc
UNITDIR    ?= $(PREFIX)/lib/systemd/system
MANDIR     ?= $(PREFIX)/share/man
SHARE      := $(BUILD)/share
INSTALL_ENV = DESTDIR='$(DESTDIR)' PREFIX='$(PREFIX)' SYSCONFDIR='$(SYSCONFDIR)' UNITDIR='$(UNITDIR)' \
              MANDIR='$(MANDIR)' BUILD='$(BUILD)'

# Manual pages from one source each: kuke(1) and kuke-<verb>(1) from kuke's command table (the one
# --help prints), kukeond(8)'s OPTIONS from 'kukeond --help', the rest hand-written in man/.
MAN_STAMP := $(SHARE)/man/.stamp
$(MAN_STAMP): $(BIN)/kuke $(BIN)/kukeond $(wildcard man/*) dist/flags2roff.awk
	@echo "  MAN     $(SHARE)/man"
	@rm -rf $(SHARE)/man && mkdir -p $(SHARE)/man/man1 $(SHARE)/man/man5 $(SHARE)/man/man8
	@$(BIN)/kuke __man $(SHARE)/man/man1
	@$(BIN)/kukeond --help | awk -f dist/flags2roff.awk >$(SHARE)/man/kukeond.options
	@sed -e 's|@VERSION@|$(VERSION)|' -e '/@OPTIONS@/{r $(SHARE)/man/kukeond.options' -e 'd}' \
	    man/kukeond.8.in >$(SHARE)/man/man8/kukeond.8
	@rm -f $(SHARE)/man/kukeond.options
	@cp man/*.8 $(SHARE)/man/man8/ && cp man/*.5 $(SHARE)/man/man5/
	@touch $@

# Completions come from the built kuke ('kuke autocomplete <shell>'); a shell kuke cannot write one
# for yet is left out of the install, said loudly.
COMP_STAMP := $(SHARE)/completions/.stamp
$(COMP_STAMP): $(BIN)/kuke
	@mkdir -p $(SHARE)/completions
	@for sh in bash zsh fish; do \
	    echo "  COMP    $(SHARE)/completions/kuke.$$sh"; \
	    if ! $(BIN)/kuke autocomplete $$sh >$(SHARE)/completions/kuke.$$sh.tmp 2>/dev/null || \
	       [ ! -s $(SHARE)/completions/kuke.$$sh.tmp ]; then \
	        echo "warning: 'kuke autocomplete $$sh' wrote nothing; no $$sh completion" >&2; \
	        rm -f $(SHARE)/completions/kuke.$$sh.tmp $(SHARE)/completions/kuke.$$sh; \
	    else mv $(SHARE)/completions/kuke.$$sh.tmp $(SHARE)/completions/kuke.$$sh; fi; \
	done
	@touch $@

.PHONY: man completions
man: $(MAN_STAMP)
completions: $(COMP_STAMP)

install: all $(MAN_STAMP) $(COMP_STAMP)
	@$(INSTALL_ENV) dist/install.sh install

uninstall:
	@$(INSTALL_ENV) dist/install.sh uninstall

# The Debian package, built from a copy of the tree so that dpkg-buildpackage's output (it writes
# beside the source directory) lands in $(BUILD)/deb: make deb, then apt-get install ./$(BUILD)/deb/kukeon_*.deb
DEB_DIR := $(BUILD)/deb
deb:
	@rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)/kukeon
	@git ls-files -z --cached --others --exclude-standard | grep -zv '^build' | \
	    xargs -0 cp --parents -t $(DEB_DIR)/kukeon
	@cd $(DEB_DIR)/kukeon && dpkg-buildpackage -us -uc -b
	@ls $(DEB_DIR)/*.deb

format:
	@clang-format -i $(wildcard */*.c */*.h tests/*/*.c tests/*/*.h)

clean:
	rm -rf build build-san build-fuzz build-*

-include $(shell find $(OBJ) -name '*.d' 2>/dev/null)
