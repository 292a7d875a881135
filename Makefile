# Switchyard build. Targets: all test unit integration asan fuzz bench format format-check clean demo
#   make            -> build/switchyard (and build/libswitchyard.a)
#   make test       -> unit + integration tests, ends with "N passed, N failed"
#   make asan       -> the same tests built with AddressSanitizer + UBSan, in build-asan/
#   make fuzz       -> libFuzzer targets (clang), each run briefly
#   V=1             -> show full commands
SHELL := /bin/bash
BUILD ?= build
CC ?= cc
ifeq ($(CC),cc)
CC := gcc
endif

PKGS := libuv libcjson yaml-0.1 libxxhash libzmq msgpack libpcre2-8 libnghttp2 openssl
DEPS_OK := $(shell pkg-config --exists $(PKGS) cmocka 2>/dev/null && test -f /usr/share/llhttp/llhttp.c && echo yes)
ifneq ($(DEPS_OK),yes)
$(shell bash scripts/install-deps.sh >&2)
endif

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
LLHTTP_DIR := /usr/share/llhttp
LLHTTP_INC := /usr/share/include/llhttp

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wno-unused-parameter
ifeq ($(WERROR),1)
WARN += -Werror
endif
OPT ?= -O2 -g
SAN ?=
CFLAGS_ALL := -std=c17 -D_GNU_SOURCE $(OPT) $(SAN) $(WARN) -Isrc -I$(LLHTTP_INC) $(PKG_CFLAGS) -MMD -MP -pthread
LDLIBS_ALL := $(SAN) $(PKG_LIBS) -lresolv -lm -pthread

ifeq ($(V),1)
Q :=
else
Q := @
endif

LIB_SRCS := $(shell find src -name '*.c' | sort)
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
LLHTTP_OBJS := $(BUILD)/llhttp/api.o $(BUILD)/llhttp/http.o $(BUILD)/llhttp/llhttp.o
LIB := $(BUILD)/libswitchyard.a
BIN := $(BUILD)/switchyard

UNIT_SRCS := $(shell find tests/unit -name 'test_*.c' | sort)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/unit/%)
FUZZ_SRCS := $(shell find tests/fuzz -name 'fuzz_*.c' 2>/dev/null | sort)

.PHONY: all test unit integration asan fuzz bench format format-check clean demo deps

all: $(BIN)

deps:
	$(Q)bash scripts/install-deps.sh

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/llhttp/%.o: $(LLHTTP_DIR)/%.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      llhttp/$*.c")
	$(Q)$(CC) -std=c17 $(OPT) $(SAN) -w -I$(LLHTTP_INC) -c $< -o $@

$(LIB): $(LIB_OBJS) $(LLHTTP_OBJS)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(BIN): $(BUILD)/cmd/switchyard.o $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -o $@ $< $(LIB) $(LDLIBS_ALL)

$(BUILD)/tests/unit/%: tests/unit/%.c $(LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS_ALL) -Itests -o $@ $< $(LIB) $(LDLIBS_ALL) -lcmocka

# bench/NAME_bench.c -> $(BUILD)/NAME_bench, linked like the tests (bench/*_bench.sh build theirs so)
$(BUILD)/%_bench: bench/%_bench.c $(LIB)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS_ALL) -o $@ $< $(LIB) $(LDLIBS_ALL)

unit: $(UNIT_BINS)
	$(Q)BUILD=$(BUILD) bash tests/run.sh unit

integration: $(BIN)
	$(Q)BUILD=$(BUILD) bash tests/run.sh integration

test: deps $(BIN) $(UNIT_BINS)
	$(Q)BUILD=$(BUILD) bash tests/run.sh all

# -Werror is for the optimised build; -O1 flow analysis raises different false positives.
asan:
	$(Q)$(MAKE) --no-print-directory BUILD=build-asan WERROR=0 OPT="-O1 -g -fno-omit-frame-pointer" \
		SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined" test

fuzz:
	$(Q)bash tests/fuzz/run.sh

bench: $(BIN)
	$(Q)BUILD=$(BUILD) bash bench/run.sh

demo: deps $(BIN)
	$(Q)bash scripts/demo.sh

format:
	$(Q)clang-format -i $$(find src cmd tests bench -name node_modules -prune -o -name '*.[ch]' -print)

format-check:
	$(Q)clang-format --dry-run --Werror $$(find src cmd tests bench -name node_modules -prune -o -name '*.[ch]' -print)

clean:
	rm -rf build build-asan build-fuzz

-include $(LIB_OBJS:.o=.d) $(BUILD)/cmd/switchyard.d $(UNIT_BINS:=.d)
-include $(wildcard $(BUILD)/*_bench.d)
