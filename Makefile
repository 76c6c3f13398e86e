# koban - build, test, fuzz, bench and demo.
#
#   make              build ./koban
#   make check        install missing packages, build, run every test
#   make check SAN=1  the same under AddressSanitizer + UndefinedBehaviorSanitizer
#   make check TSAN=1 ThreadSanitizer build (CI runs the threaded tests with it)
#   make ... HS=0     without Hyperscan (build/VARIANT-nohs): the portable multi-pattern pass
#   make fuzz FUZZ_SECONDS=N   run every libFuzzer target for N seconds (FUZZ_JOBS at a time)
#   make bench        benchmarks, figures on stdout (see docs/PERFORMANCE.md)
#   make demo         install, build, start koban with a demo tenant and sample data
#   make install      the binary, a systemd unit, an example config and the docs under
#                     PREFIX (default /usr/local), staged under DESTDIR when set
#   make uninstall    removes what make install put there (never the config or the data)

CC ?= cc
PKGS := libmicrohttpd openssl sqlite3 yaml-0.1 zlib libsodium libzstd libcurl libfyaml libpcre2-8
# Hyperscan (x86 only) runs detection's multi-pattern pass; without it a portable fallback does.
# HS=0 builds without Hyperscan (into build/VARIANT-nohs) to test the fallback alone.
ifneq ($(HS),0)
ifeq ($(shell pkg-config --exists libhs 2>/dev/null && echo 1),1)
PKGS += libhs
HS_CFLAGS := -DKOBAN_HYPERSCAN=1
endif
endif
WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wno-unused-parameter -Wvla
CFLAGS ?= -O2 -g
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -Isrc -Itests/lib $(WARN) $(CFLAGS) $(SANFLAGS) $(HS_CFLAGS) \
	$(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm

ifeq ($(SAN),1)
VARIANT := san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else ifeq ($(TSAN),1)
VARIANT := tsan
SANFLAGS := -fsanitize=thread
else
VARIANT := release
SANFLAGS :=
# Link-time optimisation of ./koban and the benchmarks (gcc): the per-event calls between
# modules (a decoder's setters, the sink's batch encoder, the segment writer's helpers) are
# inlined across files, 6-10% more syslog stored per second end to end (docs/PERFORMANCE.md).
# The objects are fat (machine code beside the LTO data), so the unit tests link them
# without LTO, as fast as before. Every file is compiled with -Werror; the link's second
# look, after inlining across files, warns of paths it cannot rule out (maybe-uninitialized,
# stringop-overflow in an inlined atomic): those two are off at the link, every other
# warning (lto-type-mismatch, odr) stays an error. LTO= turns it off; HS=0, SAN=1 and
# TSAN=1 builds have none, nor clang's (Debian 12's clang 14 has no fat objects).
CC_IS_CLANG := $(shell $(CC) -dM -E -x c /dev/null 2>/dev/null | grep -q __clang__ && echo 1)
ifneq ($(HS),0)
ifneq ($(CC_IS_CLANG),1)
LTO ?= -flto=auto
endif
endif
endif
LTO_OBJ := $(if $(LTO),$(LTO) -ffat-lto-objects)
LTO_LINK := $(if $(LTO),$(LTO) -Wno-maybe-uninitialized -Wno-stringop-overflow)

B := build/$(VARIANT)$(if $(filter 0,$(HS)),-nohs)
BIN := $(if $(filter build/release,$(B)),koban,$(B)/koban)

# The compiler and LTO flags the build directory was made with: when they change (CC=, LTO=)
# every object is compiled again, instead of being linked as it was built before.
FLAGS_STAMP := $(B)/.flags
FLAGS_NOW := $(CC) $(LTO_OBJ) / $(LTO_LINK)
$(shell mkdir -p $(B) && [ "$$(cat $(FLAGS_STAMP) 2>/dev/null)" = '$(FLAGS_NOW)' ] || \
	echo '$(FLAGS_NOW)' >$(FLAGS_STAMP))

# Files compiled into the binary (scripts/embed): the bundled field maps, koban's own
# Sigma rules and the first report templates.
EMBED_MAPS := $(sort $(wildcard rules/mappings/*.yml))
EMBED_RULES := $(sort $(wildcard rules/sigma/*.yml))
EMBED_TRIAGE := $(sort $(wildcard rules/triage/*.yml))
EMBED_TEMPLATES := $(sort $(wildcard templates/firstreport/*.txt))
EMBED_NOTIFY := $(sort $(wildcard templates/notify/*.txt))
GEN_SRC := build/gen/fieldmap_bundled.c build/gen/bundled_rules.c build/gen/triage_rules.c \
	build/gen/firstreport_bundled.c build/gen/notify_bundled.c

LIB_SRC := $(filter-out src/cli/main.c,$(sort $(wildcard src/*/*.c)))
LIB_OBJ := $(LIB_SRC:%.c=$(B)/%.o) $(GEN_SRC:%.c=$(B)/%.o)
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:%.c=$(B)/%)
TLIB_SRC := $(wildcard tests/lib/*.c)
TLIB_OBJ := $(TLIB_SRC:%.c=$(B)/%.o)
BENCH_SRC := $(sort $(wildcard bench/*.c))
BENCH_BIN := $(BENCH_SRC:%.c=$(B)/%)
BLIB_SRC := $(wildcard bench/lib/*.c)
BLIB_OBJ := $(BLIB_SRC:%.c=$(B)/%.o)
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/%)
FUZZ_SECONDS ?= 30

.SECONDARY:
.PHONY: all check test bootstrap demo bench fuzz fuzz-build clean tools install uninstall
all: $(BIN) tools

tools: $(UNIT_BIN) $(BENCH_BIN)

$(B)/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LTO_OBJ) -MMD -MP -c -o $@ $<

build/gen/fieldmap_bundled.c: $(EMBED_MAPS) rules/mappings scripts/embed
	@mkdir -p $(dir $@)
	scripts/embed detect/fieldmap.h fieldmap_file fieldmap_bundled $(EMBED_MAPS) >$@.tmp
	mv $@.tmp $@
# The directories are prerequisites so that removing a file regenerates the table too.
build/gen/bundled_rules.c: $(EMBED_RULES) rules/sigma scripts/embed
	@mkdir -p $(dir $@)
	scripts/embed detect/bundled.h bundled_file bundled_files $(EMBED_RULES) >$@.tmp
	mv $@.tmp $@
build/gen/triage_rules.c: $(EMBED_TRIAGE) rules/triage scripts/embed
	@mkdir -p $(dir $@)
	scripts/embed detect/bundled.h bundled_file triage_bundled $(EMBED_TRIAGE) >$@.tmp
	mv $@.tmp $@

build/gen/firstreport_bundled.c: $(EMBED_TEMPLATES) templates/firstreport scripts/embed
	@mkdir -p $(dir $@)
	scripts/embed detect/bundled.h bundled_file firstreport_bundled $(EMBED_TEMPLATES) >$@.tmp
	mv $@.tmp $@

build/gen/notify_bundled.c: $(EMBED_NOTIFY) templates/notify scripts/embed
	@mkdir -p $(dir $@)
	scripts/embed detect/bundled.h bundled_file notify_bundled $(EMBED_NOTIFY) >$@.tmp
	mv $@.tmp $@

$(B)/libkoban.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(B)/src/cli/main.o $(B)/libkoban.a
	$(CC) $(ALL_CFLAGS) $(LTO_LINK) -o $@ $^ $(LDLIBS)

$(B)/tests/unit/%: $(B)/tests/unit/%.o $(TLIB_OBJ) $(B)/libkoban.a
	$(CC) $(ALL_CFLAGS) $(if $(LTO),-fno-lto) -o $@ $^ $(LDLIBS)

$(BENCH_BIN): $(B)/bench/%: $(B)/bench/%.o $(BLIB_OBJ) $(B)/libkoban.a
	$(CC) $(ALL_CFLAGS) $(LTO_LINK) -o $@ $^ $(LDLIBS)

bootstrap:
	@scripts/bootstrap

check: bootstrap
	@$(MAKE) --no-print-directory all
	@KOBAN_BIN=$(abspath $(BIN)) KOBAN_BUILD=$(abspath $(B)) KOBAN_VARIANT=$(VARIANT) \
		tests/run

test: all
	@KOBAN_BIN=$(abspath $(BIN)) KOBAN_BUILD=$(abspath $(B)) KOBAN_VARIANT=$(VARIANT) \
		tests/run

# libFuzzer targets: clang only, with ASan+UBSan, one binary per parser.
FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE -Isrc $(HS_CFLAGS) -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	$(shell pkg-config --cflags $(PKGS) 2>/dev/null)
build/fuzz/lib/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<
FUZZ_LIB_OBJ := $(patsubst %.c,build/fuzz/lib/%.o,$(filter-out src/cli/%,$(LIB_SRC)) $(GEN_SRC))
build/fuzz/libkoban.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^
build/fuzz/%: tests/fuzz/%.c build/fuzz/libkoban.a
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -MMD -MP -MF $@.d -o $@ $< build/fuzz/libkoban.a $(LDLIBS)
fuzz-build: $(FUZZ_BIN)
fuzz: fuzz-build
	@tests/fuzz/run $(FUZZ_SECONDS) $(FUZZ_BIN)

bench: bootstrap
	@$(MAKE) --no-print-directory all
	@bench/run $(abspath $(BIN)) $(abspath $(B))

demo: bootstrap
	@$(MAKE) --no-print-directory all
	@scripts/demo

# Installation. PREFIX=/usr puts the configuration in /etc, anything else in PREFIX/etc.
# The unit runs `koban serve -c SYSCONFDIR/koban/koban.yaml` as user koban (created by
# systemd-sysusers from the installed sysusers.d file) with its data in STATEDIR. An
# existing koban.yaml is never overwritten: the fresh example goes next to it as
# koban.yaml.example.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
DOCDIR ?= $(PREFIX)/share/doc/koban
# fixed: the unit says StateDirectory=koban
STATEDIR := /var/lib/koban
INSTALL ?= install
DIST_SED = sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	-e 's|@STATEDIR@|$(STATEDIR)|g' -e 's|@DOCDIR@|$(DOCDIR)|g'

# the binary to install; tests/integration/test_install.sh passes the one it tests
INSTALL_BIN ?= koban

install: $(INSTALL_BIN)
	@[ "$(INSTALL_BIN)" != koban ] || [ "$(VARIANT)" = release ] || { echo "make install: installs the release build (run it without SAN=1 or TSAN=1)" >&2; exit 1; }
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) \
		$(DESTDIR)$(SYSCONFDIR)/koban $(DESTDIR)$(DOCDIR)
	$(INSTALL) -m 0755 $(INSTALL_BIN) $(DESTDIR)$(BINDIR)/koban
	$(DIST_SED) dist/koban.service.in >$(DESTDIR)$(UNITDIR)/koban.service.tmp
	chmod 0644 $(DESTDIR)$(UNITDIR)/koban.service.tmp
	mv $(DESTDIR)$(UNITDIR)/koban.service.tmp $(DESTDIR)$(UNITDIR)/koban.service
	$(DIST_SED) dist/koban.sysusers >$(DESTDIR)$(SYSUSERSDIR)/koban.conf
	chmod 0644 $(DESTDIR)$(SYSUSERSDIR)/koban.conf
	$(if $(findstring /,$(INSTALL_BIN)),,./)$(INSTALL_BIN) config example \
		>$(DESTDIR)$(SYSCONFDIR)/koban/koban.yaml.tmp
	sed 's|^data_dir: .*|data_dir: $(STATEDIR)|' $(DESTDIR)$(SYSCONFDIR)/koban/koban.yaml.tmp \
		>$(DESTDIR)$(SYSCONFDIR)/koban/koban.yaml.example
	rm -f $(DESTDIR)$(SYSCONFDIR)/koban/koban.yaml.tmp
	chmod 0644 $(DESTDIR)$(SYSCONFDIR)/koban/koban.yaml.example
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/koban/koban.yaml ]; then \
		echo "kept $(DESTDIR)$(SYSCONFDIR)/koban/koban.yaml (the new example is koban.yaml.example)"; \
	else \
		echo "$(INSTALL) -m 0644 koban.yaml.example koban.yaml"; \
		$(INSTALL) -m 0644 $(DESTDIR)$(SYSCONFDIR)/koban/koban.yaml.example \
			$(DESTDIR)$(SYSCONFDIR)/koban/koban.yaml; \
	fi
	$(INSTALL) -m 0644 README.md docs/*.md $(DESTDIR)$(DOCDIR)/
	$(INSTALL) -d $(DESTDIR)$(DOCDIR)/templates/firstreport
	$(INSTALL) -m 0644 $(EMBED_TEMPLATES) $(DESTDIR)$(DOCDIR)/templates/firstreport/
	$(INSTALL) -d $(DESTDIR)$(DOCDIR)/templates/notify
	$(INSTALL) -m 0644 $(EMBED_NOTIFY) $(DESTDIR)$(DOCDIR)/templates/notify/

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/koban $(DESTDIR)$(UNITDIR)/koban.service \
		$(DESTDIR)$(SYSUSERSDIR)/koban.conf $(DESTDIR)$(SYSCONFDIR)/koban/koban.yaml.example
	rm -rf $(DESTDIR)$(DOCDIR)
	@echo "kept $(DESTDIR)$(SYSCONFDIR)/koban/koban.yaml and $(STATEDIR) (remove them by hand)"

clean:
	rm -rf build koban

-include $(shell find build -name '*.d' 2>/dev/null)
