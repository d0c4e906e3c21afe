# Makefile - build, test, bench, sanitizer and fuzz targets for lossd.
#
#   make                      build/lossd, the libraries and the tests
#   make test                 every Check suite, fuzz replays, integration
#   make bench                benchmarks (build/lossd-bench and friends)
#   make run                  start the server on :8080
#   make SANITIZER=address,undefined test   instrumented, in build-address-undefined/
#   make deps                 install missing Debian 12 packages (root)
#   make fuzz                 libFuzzer harnesses with clang, in build-fuzz/
#   make fuzz-long            each harness FUZZ_SECONDS (180), new inputs merged into the corpus
#   make alloc-fail           the n-th allocation fails, n = 1, 2, ...: decoders and lossd, ASan
#   make cross-check          the engine on arm64 (NEON) under qemu, against this machine
#   make soak                 soak and hostility suite, ~10 min (SOAK_SECONDS=60: about 80 s)

CC       ?= cc
OPT      ?= -O2 -g
WARN     := -Wall -Wextra
# No fused multiply-add anywhere: every SIMD path must round the same way.
FPFLAGS  := -ffp-contract=off -fno-fast-math
PKGS     := libmicrohttpd libuv libcjson zlib
TEST_PKGS := check

comma := ,
ifdef SANITIZER
BUILD    ?= build-$(subst $(comma),-,$(SANITIZER))
SANFLAGS := -fsanitize=$(SANITIZER) -fno-omit-frame-pointer -fno-sanitize-recover=all
else
BUILD    ?= build
SANFLAGS :=
endif

ARCH := $(shell uname -m)

CPPFLAGS += -Icore -Iproto -Iserver -D_GNU_SOURCE
CFLAGS   += -std=c11 $(OPT) $(WARN) $(FPFLAGS) $(SANFLAGS) -pthread -MMD -MP
LDFLAGS  += $(SANFLAGS) -pthread

PKG_CFLAGS  = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS    = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CHECK_LIBS  = $(shell pkg-config --libs $(TEST_PKGS) 2>/dev/null)

CORE_SRC   := $(wildcard core/*.c)
PROTO_SRC  := $(wildcard proto/*.c)
SERVER_SRC := $(filter-out server/main.c,$(wildcard server/*.c))
TEST_SRC   := $(wildcard tests/check_*.c)
TESTLIB_SRC := $(filter-out tests/check_%.c,$(wildcard tests/*.c))
FUZZ_SRC   := $(filter-out tests/fuzz/replay.c,$(wildcard tests/fuzz/fuzz_*.c))
BENCH_SRC  := $(wildcard bench/*.c)

obj = $(patsubst %.c,$(BUILD)/%.o,$(1))

CORE_LIB   := $(BUILD)/libcore.a
PROTO_LIB  := $(BUILD)/libproto.a
SERVER_LIB := $(BUILD)/libserver.a
LOSSD      := $(BUILD)/lossd
TESTS      := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRC))
FUZZ_REPLAY := $(patsubst tests/fuzz/%.c,$(BUILD)/tests/fuzz/%-replay,$(FUZZ_SRC))
BENCHES    := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))

# Per-file instruction sets: only the kernel files get them, never the
# whole build, so one binary runs on every x86-64 CPU.
ifeq ($(ARCH),x86_64)
$(BUILD)/core/kernel_avx2.o:   XFLAGS := -mavx2 -mf16c
$(BUILD)/core/kernel_avx512.o: XFLAGS := -mavx512f -mavx2 -mf16c
endif

.PHONY: all deps run test unit fuzz-replay integration bench fuzz fuzz-long alloc-fail alloc-fail-decoders alloc-fail-server cross-check soak clean help
all: $(LOSSD) $(TESTS) $(FUZZ_REPLAY) $(BENCHES) $(BUILD)/lossd-bench

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) $(XFLAGS) -c $< -o $@

# GET /openapi.json is served from the document embedded with .incbin.
$(BUILD)/server/openapi.o: docs/openapi.json

$(CORE_LIB): $(call obj,$(CORE_SRC))
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(PROTO_LIB): $(call obj,$(PROTO_SRC))
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(SERVER_LIB): $(call obj,$(SERVER_SRC))
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

LIBS := $(SERVER_LIB) $(PROTO_LIB) $(CORE_LIB)

$(LOSSD): $(call obj,server/main.c) $(LIBS)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm

$(BUILD)/tests/check_%: $(call obj,tests/check_%.c) $(call obj,$(TESTLIB_SRC)) $(LIBS)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(CHECK_LIBS) -lm

$(BUILD)/tests/fuzz/%-replay: $(call obj,tests/fuzz/%.c) $(call obj,tests/fuzz/replay.c) $(LIBS)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm

$(BUILD)/bench/%: $(call obj,bench/%.c) $(LIBS)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm

# The kernel benchmark keeps the name the docs use.
$(BUILD)/lossd-bench: $(BUILD)/bench/kernel_bench
	cp $< $@

DEB_PKGS := gcc make pkg-config libc6-dev libmicrohttpd-dev libcjson-dev \
            libuv1-dev zlib1g-dev check curl python3 python3-numpy python3-requests
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "make deps: missing Debian packages:$$missing (run as root)"; exit 1; fi; \
	  echo "make deps: installing$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

run: deps
	$(MAKE) $(LOSSD)
	exec ./$(LOSSD)

test: deps
	$(MAKE) all
	$(MAKE) unit fuzz-replay integration layers alloc-fail-decoders

unit: $(TESTS)
	@set -e; for t in $(TESTS); do echo "== $$t"; CK_FORK=yes $$t; done

fuzz-replay: $(FUZZ_REPLAY)
	@set -e; for f in $(FUZZ_REPLAY); do \
	  name=$$(basename $$f -replay); name=$${name#fuzz_}; \
	  echo "== $$f tests/fuzz/corpus/$$name"; $$f tests/fuzz/corpus/$$name; done

integration: $(LOSSD)
	@set -e; for s in $(wildcard tests/integration_*.sh); do \
	  echo "== $$s"; LOSSD=./$(LOSSD) bash $$s; done

# Dependencies between the files of core/, proto/ and server/, read from
# their objects: no loop, and only server -> proto -> core.
.PHONY: layers
layers: $(LIBS) $(call obj,server/main.c)
	@bash tests/check_layers.sh $(BUILD)

bench: $(BUILD)/lossd-bench $(BENCHES) $(LOSSD)
	./$(BUILD)/lossd-bench
	./$(BUILD)/bench/json_bench
	@set -e; for s in $(wildcard bench/*.sh); do echo "== $$s"; BUILD=$(BUILD) bash $$s; done

# libFuzzer builds (clang): build-fuzz/fuzz_X. libFuzzer writes new inputs
# to its first directory, so give it a scratch one before the corpus:
#   mkdir -p /tmp/fz && build-fuzz/fuzz_json -max_total_time=60 /tmp/fz tests/fuzz/corpus/json
FUZZ_SAN := fuzzer-no-link,address,undefined
fuzz:
	$(MAKE) CC=clang SANITIZER=$(FUZZ_SAN) BUILD=build-fuzz build-fuzz/libproto.a build-fuzz/libcore.a
	@set -e; for f in $(FUZZ_SRC); do \
	  out=build-fuzz/$$(basename $$f .c); echo "  FUZZ $$out"; \
	  clang $(CPPFLAGS) $(PKG_CFLAGS) -g -O1 $(FPFLAGS) -fsanitize=fuzzer,address,undefined \
	    $$f build-fuzz/libproto.a build-fuzz/libcore.a $(PKG_LIBS) -lm -o $$out; done

# Every harness in turn for FUZZ_SECONDS under ASan+UBSan; what adds
# coverage is merged into tests/fuzz/corpus/<name> (tests/fuzz/fuzz_long.sh),
# which `make fuzz-replay` then replays. Commit the grown corpus.
FUZZ_SECONDS ?= 180
fuzz-long: fuzz
	bash tests/fuzz/fuzz_long.sh build-fuzz $(FUZZ_SECONDS) $(FUZZ_SRC)

# Allocation failure (tests/allocfail/README.md): the programs are linked
# with the C library's allocators wrapped (allocfail.h) and zlib static, so
# that its allocations fail too. alloc-fail-decoders runs in `make test`
# (seconds); `make alloc-fail` runs it and the request path under ASan.
ALLOCFAIL_WRAP := -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=aligned_alloc \
                  -Wl,--wrap=posix_memalign,--wrap=strdup,--wrap=free
ALLOCFAIL_LIBS  = $(filter-out -lz,$(PKG_LIBS)) -l:libz.a -lm
ALLOCFAIL_DEC  := $(BUILD)/tests/allocfail/decoders
ALLOCFAIL_LOSSD := $(BUILD)/lossd-allocfail
ALLOCFAIL_SAN  := address,undefined

$(ALLOCFAIL_DEC): $(call obj,tests/allocfail/decoders.c tests/allocfail/allocfail.c) \
                  $(PROTO_LIB) $(CORE_LIB)
	$(CC) $(LDFLAGS) $(ALLOCFAIL_WRAP) -o $@ $^ $(ALLOCFAIL_LIBS)

$(ALLOCFAIL_LOSSD): $(call obj,server/main.c tests/allocfail/allocfail.c \
                    tests/allocfail/lossd_arm.c) $(LIBS)
	$(CC) $(LDFLAGS) $(ALLOCFAIL_WRAP) -o $@ $^ $(ALLOCFAIL_LIBS)

alloc-fail-decoders: $(ALLOCFAIL_DEC)
	./$(ALLOCFAIL_DEC)

alloc-fail-server: $(ALLOCFAIL_LOSSD)
	/usr/bin/python3 tests/allocfail/request_path.py --lossd ./$(ALLOCFAIL_LOSSD)

alloc-fail:
	$(MAKE) SANITIZER=$(ALLOCFAIL_SAN) alloc-fail-decoders alloc-fail-server

# The engine as a static arm64 program under qemu-user (Debian packages
# gcc-aarch64-linux-gnu, libc6-dev-arm64-cross, qemu-user): on both sides
# every SIMD path must give the scalar bits, and the scalar digests of the
# arm64 run must equal this machine's (tests/cross/core_check.c).
CROSS_CC ?= aarch64-linux-gnu-gcc
QEMU     ?= qemu-aarch64
CROSS_DIR := build-arm64
cross-check: $(CORE_LIB)
	@mkdir -p $(CROSS_DIR)
	$(CC) $(CPPFLAGS) -std=c11 $(OPT) $(WARN) $(FPFLAGS) $(SANFLAGS) tests/cross/core_check.c \
	  $(CORE_LIB) $(LDFLAGS) -lm -o $(BUILD)/core_check
	$(CROSS_CC) -Icore -std=c11 $(OPT) $(WARN) $(FPFLAGS) -static $(CORE_SRC) \
	  tests/cross/core_check.c -lm -o $(CROSS_DIR)/core_check
	./$(BUILD)/core_check >$(BUILD)/core_check.out
	$(QEMU) $(CROSS_DIR)/core_check >$(CROSS_DIR)/core_check.out
	cmp $(BUILD)/core_check.out $(CROSS_DIR)/core_check.out
	@echo "cross-check: $$(wc -l <$(CROSS_DIR)/core_check.out) requests, the same bits on $(ARCH) and arm64"

# The soak suite (tests/soak/README.md): Debian's python3 with numpy.
soak: $(LOSSD)
	/usr/bin/python3 tests/soak/soak.py --lossd ./$(LOSSD) --seconds $(or $(SOAK_SECONDS),600)

clean:
	rm -rf build build-*

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
