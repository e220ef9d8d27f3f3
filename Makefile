# unum - build, test, run, bench, fuzz.
#
#   make            build build/unum (CUDA support when nvcc is found; CUDA=0 to skip)
#   make test       install what the tests need, build, check the layers, run every suite
#   make test-repeat N=10   the whole suite N times, each from fresh fixtures,
#                   stopping at the first failure
#   make layers     fail on an include that crosses a layer the wrong way (tools/layers.sh)
#   make run        install what the app needs, build, start the app (ARGS=... for a command)
#   make bench      benchmark the generated Qwen2.5-0.5B-shaped checkpoint
#   make fuzz       run each libFuzzer target for FUZZ_SECONDS (clang)
#   make asan       the unit and CLI suites under ASan+UBSan
#   make clean

CC      ?= cc
BUILD   ?= build
PKGS    := libcjson libpcre2-8 libutf8proc openblas lapacke sqlite3 libcrypto fftw3f samplerate zlib \
           ncursesw libcurl
# SDL2 (audio capture): on by default; SDL=0 builds without it (record then
# says so), e.g. on a GPU machine that has no SDL and no network
SDL ?= 1
ifeq ($(SDL),1)
PKGS    += sdl2
endif
CFLAGS  ?= -O2 -g
ifeq ($(SDL),1)
override CFLAGS += -DUNUM_SDL
endif
override CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -pthread \
           -I.
ifeq ($(SYSROOT),)
override CFLAGS += $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
override LDLIBS += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm -pthread
else
# headers and libraries carried to a machine without the Debian packages
# (tools/gpu-bundle.sh); the binaries find them through RPATH (not RUNPATH,
# which the libraries' own dependencies, e.g. OpenBLAS -> gfortran, ignore)
override CFLAGS += -I$(SYSROOT)/include -I$(SYSROOT)/include/cjson
override LDLIBS += -L$(abspath $(SYSROOT))/lib -Wl,--disable-new-dtags \
                   -Wl,-rpath,$(abspath $(SYSROOT))/lib \
                   -lcjson -lpcre2-8 -lutf8proc -lopenblas -llapacke -lsqlite3 -lcrypto -lfftw3f \
                   -lsamplerate -lz -lncursesw -ltinfo -lcurl -lm -pthread
endif
FUZZ_SECONDS ?= 20

ENGINE_SRC := $(wildcard engine/base/*.c engine/*.c engine/cpu/*.c store/*.c audio/*.c)

# CUDA: built when nvcc is on PATH or in /usr/local/cuda (make CUDA=0 to skip).
# cudart is linked statically; cuBLAS is opened at run time (dlopen), from the
# toolkit's lib64 through rpath.
CUDA ?= 1
ifeq ($(CUDA),1)
NVCC ?= $(shell command -v nvcc 2>/dev/null || { test -x /usr/local/cuda/bin/nvcc && echo /usr/local/cuda/bin/nvcc; })
endif
ifneq ($(NVCC),)
CUDA_HOME  ?= $(patsubst %/bin/nvcc,%,$(NVCC))
CUDA_SRC   := $(wildcard engine/cuda/*.cu)
CUDA_OBJ   := $(CUDA_SRC:%.cu=$(BUILD)/%.o)
NVFLAGS    ?= -O2 -std=c++17 -gencode arch=compute_80,code=sm_80 \
              -gencode arch=compute_89,code=sm_89 -gencode arch=compute_90,code=sm_90 \
              -gencode arch=compute_90,code=compute_90
override CFLAGS += -DUNUM_CUDA
override LDLIBS += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 \
                   -lcudart_static -ldl -lrt -lstdc++
endif
TUI_SRC    := $(wildcard tui/*.c tui/cli/*.c tui/app/*.c tui/core/*.c)
# the app's pure text modules (no ncurses): also linked into the unit tests
# and the fuzz targets
TUI_PURE   := tui/app/textwrap.c tui/app/markdown.c
TEST_SRC   := $(wildcard tests/test_*.c)

ENGINE_OBJ := $(ENGINE_SRC:%.c=$(BUILD)/%.o) $(CUDA_OBJ)
TUI_OBJ    := $(TUI_SRC:%.c=$(BUILD)/%.o)
# the unit tests link the app's modules, all but its main()
TUI_LIB_OBJ := $(filter-out $(BUILD)/tui/main.o,$(TUI_OBJ))
TEST_OBJ   := $(TEST_SRC:%.c=$(BUILD)/%.o)

.PHONY: all test test-repeat run bench fuzz asan clean deps deps-test deps-fuzz fixtures check-deps layers
all: check-deps $(BUILD)/unum $(BUILD)/gen_model

# A missing -dev package shows up as a missing header; say so up front.
check-deps:
	@test -n "$(SYSROOT)" || pkg-config --exists $(PKGS) || { echo "unum: missing libraries; run tools/deps.sh app" \
	  "(or make run / make test, which install them)"; exit 1; }

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/engine/cuda/%.o: engine/cuda/%.cu $(wildcard engine/cuda/*.cuh) engine/ops.h \
                          engine/base/util.h engine/safetensors.h engine/sampler.h
	@mkdir -p $(dir $@)
	$(NVCC) $(NVFLAGS) -I. -Xcompiler -Wall -c $< -o $@

$(BUILD)/libunum.a: $(ENGINE_OBJ)
	$(AR) rcs $@ $^

$(BUILD)/unum: $(TUI_OBJ) $(BUILD)/libunum.a
	$(CC) $(CFLAGS) $(LDFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/gen_model: $(BUILD)/tests/gen/gen_model.o $(BUILD)/libunum.a
	$(CC) $(CFLAGS) $(LDFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/test_unit: $(TEST_OBJ) $(TUI_LIB_OBJ) $(BUILD)/libunum.a
	$(CC) $(CFLAGS) $(LDFLAGS) $^ -o $@ $(LDLIBS)

# The store's crash-test writer (run by the unit suite) and its benchmark.
$(BUILD)/store_crash: $(BUILD)/tests/store_crash.o $(BUILD)/libunum.a
	$(CC) $(CFLAGS) $(LDFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/store_bench: $(BUILD)/tests/store_bench.o $(BUILD)/libunum.a
	$(CC) $(CFLAGS) $(LDFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/membw: tools/membw.c
	@mkdir -p $(dir $@)
	$(CC) -O3 -march=native -Wall -Wextra -pthread $< -o $@

deps:
	@tools/deps.sh app

deps-test:
	@tools/deps.sh test

deps-fuzz:
	@tools/deps.sh fuzz

fixtures: $(BUILD)/gen_model
	@tools/fixtures.sh $(BUILD)

layers:
	@tools/layers.sh

test: deps-test layers
	@$(MAKE) --no-print-directory $(BUILD)/unum $(BUILD)/gen_model $(BUILD)/test_unit \
	  $(BUILD)/store_crash
	@tools/fixtures.sh $(BUILD)
	@tests/run.sh $(BUILD)

# The whole suite N times in a row, each run from a fresh state: the
# generated fixtures are removed and written again (the tests keep nothing
# else between runs: each makes and removes its own /tmp folder). Stops at
# the first failing run and says which.
N ?= 10
test-repeat: deps-test
	@$(MAKE) --no-print-directory $(BUILD)/unum $(BUILD)/gen_model $(BUILD)/test_unit \
	  $(BUILD)/store_crash
	@i=1; while [ $$i -le $(N) ]; do \
	  echo "test-repeat: run $$i of $(N)"; \
	  rm -rf $(BUILD)/fixtures && tools/fixtures.sh $(BUILD) >/dev/null && \
	    tests/run.sh $(BUILD) >$(BUILD)/test-repeat.log 2>&1; \
	  rc=$$?; tail -1 $(BUILD)/test-repeat.log; \
	  if [ $$rc -ne 0 ]; then grep -E '^FAIL|^    ' $(BUILD)/test-repeat.log | head -40; \
	    echo "test-repeat: run $$i of $(N) failed (log: $(BUILD)/test-repeat.log)"; exit 1; fi; \
	  i=$$((i + 1)); \
	done; echo "test-repeat: $(N) runs passed"

asan:
	@$(MAKE) --no-print-directory BUILD=build-asan \
	  CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	  LDFLAGS="-fsanitize=address,undefined" build-asan/unum build-asan/gen_model build-asan/test_unit \
	  build-asan/store_crash
	@tools/fixtures.sh build-asan
	@UNUM_SANITIZED=1 tests/run.sh build-asan

ARGS ?=
run: deps
	@$(MAKE) --no-print-directory $(BUILD)/unum
	$(BUILD)/unum $(ARGS)

bench: all $(BUILD)/membw
	@tools/bench.sh $(BUILD)

FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))
# the terminal app's parsers and text layout, which have fuzz targets (no
# main() and no ncurses among them)
FUZZ_TUI_SRC := tui/core/conffile.c tui/core/appconfig.c tui/app/theme.c tui/app/keys.c $(TUI_PURE)
$(BUILD)/fuzz/%: tests/fuzz/%.c $(ENGINE_SRC) $(FUZZ_TUI_SRC)
	@mkdir -p $(dir $@)
	clang -std=c11 -D_GNU_SOURCE -O1 -g -fsanitize=fuzzer,address,undefined \
	  -fno-sanitize-recover=undefined -I. \
	  $(shell pkg-config --cflags $(PKGS)) $< $(ENGINE_SRC) $(FUZZ_TUI_SRC) -o $@ $(LDLIBS)

fuzz: deps-fuzz $(FUZZ_TARGETS)
	@for t in $(FUZZ_TARGETS); do \
	  n=$$(basename $$t); mkdir -p $(BUILD)/fuzz/corpus-$$n; \
	  echo "fuzz: $$n for $(FUZZ_SECONDS)s"; \
	  $$t -max_total_time=$(FUZZ_SECONDS) -max_len=65536 $(BUILD)/fuzz/corpus-$$n tests/fuzz/seeds/$$n \
	    >$(BUILD)/fuzz/$$n.log 2>&1 || { tail -40 $(BUILD)/fuzz/$$n.log; exit 1; }; \
	  tail -1 $(BUILD)/fuzz/$$n.log; \
	done

clean:
	rm -rf build build-asan

-include $(ENGINE_SRC:%.c=$(BUILD)/%.d) $(TUI_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(BUILD)/tests/gen/gen_model.d \
  $(BUILD)/tests/store_crash.d $(BUILD)/tests/store_bench.d
