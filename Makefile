# koban - build, test, fuzz, bench and demo.
#
#   make              build ./koban
#   make check        install missing packages, build, run every test
#   make check SAN=1  the same under AddressSanitizer + UndefinedBehaviorSanitizer
#   make check TSAN=1 ThreadSanitizer build (CI runs the threaded tests with it)
#   make fuzz FUZZ_SECONDS=N   run every libFuzzer target for N seconds
#   make bench        benchmarks, figures on stdout (see docs/PERFORMANCE.md)
#   make demo         install, build, start koban with a demo tenant and sample data

CC ?= cc
PKGS := libmicrohttpd openssl sqlite3 yaml-0.1 zlib
WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wno-unused-parameter -Wvla
CFLAGS ?= -O2 -g
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -Isrc -Itests/lib $(WARN) $(CFLAGS) $(SANFLAGS) \
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
endif

B := build/$(VARIANT)
BIN := $(if $(filter release,$(VARIANT)),koban,$(B)/koban)

LIB_SRC := $(filter-out src/cli/main.c,$(sort $(wildcard src/*/*.c)))
LIB_OBJ := $(LIB_SRC:%.c=$(B)/%.o)
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:%.c=$(B)/%)
TLIB_SRC := $(wildcard tests/lib/*.c)
TLIB_OBJ := $(TLIB_SRC:%.c=$(B)/%.o)
BENCH_SRC := $(sort $(wildcard bench/*.c))
BENCH_BIN := $(BENCH_SRC:%.c=$(B)/%)
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/%)
FUZZ_SECONDS ?= 30

.SECONDARY:
.PHONY: all check test bootstrap demo bench fuzz fuzz-build clean tools
all: $(BIN) tools

tools: $(UNIT_BIN) $(BENCH_BIN)

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(B)/libkoban.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(B)/src/cli/main.o $(B)/libkoban.a
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

$(B)/tests/unit/%: $(B)/tests/unit/%.o $(TLIB_OBJ) $(B)/libkoban.a
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

$(B)/bench/%: $(B)/bench/%.o $(B)/libkoban.a
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

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
FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE -Isrc -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	$(shell pkg-config --cflags $(PKGS) 2>/dev/null)
build/fuzz/lib/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<
FUZZ_LIB_OBJ := $(patsubst %.c,build/fuzz/lib/%.o,$(filter-out src/cli/%,$(LIB_SRC)))
build/fuzz/libkoban.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^
build/fuzz/%: tests/fuzz/%.c build/fuzz/libkoban.a
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -o $@ $^ $(LDLIBS)
fuzz-build: $(FUZZ_BIN)
fuzz: fuzz-build
	@tests/fuzz/run $(FUZZ_SECONDS) $(FUZZ_BIN)

bench: bootstrap
	@$(MAKE) --no-print-directory all
	@bench/run $(abspath $(BIN)) $(abspath $(B))

demo: bootstrap
	@$(MAKE) --no-print-directory all
	@scripts/demo

clean:
	rm -rf build koban

-include $(shell find build -name '*.d' 2>/dev/null)
