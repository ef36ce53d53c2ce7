# selfalign — plain Makefile.
#   make            library, CLI (build/selfalign), tools, tests and benches
#   make test       build and run the test suite (tests/run)
#   make asan       the suite again under ASan+UBSan in build-asan/
#   make strict     build with extra warnings as errors
#   make bench      build and run the benchmarks in bench/
#   make fuzz       libFuzzer targets (clang) in build-fuzz/
# Options: BUILD=dir  OPT=-O2  NO_OPENMP=1  NO_MPI=1  NO_CUDA=1  NO_CURL=1  NO_MHD=1
#          NO_OPENBLAS=1  V=1

BUILD   ?= build
CC      ?= cc
OPT     ?= -O2
PKG     ?= pkg-config
V       ?= 0
Q       := $(if $(filter 1,$(V)),,@)

WARN    := -Wall -Wextra -Wno-unused-parameter
STRICT_WARN := -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes -Wmissing-prototypes \
               -Wvla -Wformat=2 -Wundef
ifeq ($(STRICT),1)
  WARN += $(STRICT_WARN) # before CFLAGS_BASE expands WARN (:=)
endif
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -g $(OPT) $(WARN) -Iinclude -fno-strict-aliasing
LDLIBS_BASE := -lm -lpthread

# ---- required libraries -----------------------------------------------------
REQ_CFLAGS := $(shell $(PKG) --cflags jansson libpcre2-8 libxxhash 2>/dev/null)
REQ_LIBS   := $(shell $(PKG) --libs jansson libpcre2-8 libxxhash 2>/dev/null)
ifeq ($(strip $(REQ_LIBS)),)
  REQ_LIBS := -ljansson -lpcre2-8 -lxxhash
endif
HAVE_REQ := $(shell $(PKG) --exists jansson libpcre2-8 libxxhash 2>/dev/null && echo 1)

# ---- optional features (each can be turned off with NO_<X>=1) -----------------
yesno = $(if $(filter 1,$(1)),✓,✗)

ifndef NO_OPENBLAS
  HAVE_OPENBLAS := $(shell test -f /usr/include/x86_64-linux-gnu/openblas-openmp/cblas.h -o -f /usr/include/x86_64-linux-gnu/cblas.h -o -f /usr/include/cblas.h && $(PKG) --exists openblas 2>/dev/null && echo 1)
endif
ifeq ($(HAVE_OPENBLAS),1)
  FEAT_CFLAGS += -DSA_HAVE_OPENBLAS=1 $(shell $(PKG) --cflags openblas)
  FEAT_LIBS   += $(shell $(PKG) --libs openblas)
  OPENBLAS_VARIANT := $(if $(wildcard /usr/include/x86_64-linux-gnu/openblas-openmp),openmp,other)
endif

ifndef NO_OPENMP
  HAVE_OPENMP := $(shell echo 'int main(void){return 0;}' | $(CC) -fopenmp -x c - -o /dev/null 2>/dev/null && echo 1)
endif
ifeq ($(HAVE_OPENMP),1)
  FEAT_CFLAGS += -fopenmp -DSA_HAVE_OPENMP=1
  FEAT_LIBS   += -fopenmp
endif

ifndef NO_MPI
  HAVE_MPI := $(shell $(PKG) --exists ompi-c 2>/dev/null && echo 1)
endif
ifeq ($(HAVE_MPI),1)
  FEAT_CFLAGS += -DSA_HAVE_MPI=1 $(shell $(PKG) --cflags ompi-c)
  FEAT_LIBS   += $(shell $(PKG) --libs ompi-c)
endif
ifndef NO_CUDA
  HAVE_CUDA := $(shell command -v nvcc >/dev/null 2>&1 && echo 1)
endif
ifndef NO_CURL
  HAVE_CURL := $(shell $(PKG) --exists libcurl 2>/dev/null && echo 1)
endif
ifeq ($(HAVE_CURL),1)
  FEAT_CFLAGS += -DSA_HAVE_CURL=1 $(shell $(PKG) --cflags libcurl)
  FEAT_LIBS   += $(shell $(PKG) --libs libcurl)
endif
ifndef NO_MHD
  HAVE_MHD := $(shell $(PKG) --exists libmicrohttpd 2>/dev/null && echo 1)
endif
ifeq ($(HAVE_MHD),1)
  FEAT_CFLAGS += -DSA_HAVE_MHD=1 $(shell $(PKG) --cflags libmicrohttpd)
  FEAT_LIBS   += $(shell $(PKG) --libs libmicrohttpd)
endif

ifeq ($(SAN),1)
  SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
endif
CFLAGS  := $(CFLAGS_BASE) $(REQ_CFLAGS) $(FEAT_CFLAGS) $(SAN_FLAGS) $(EXTRA_CFLAGS)
LDFLAGS := $(SAN_FLAGS) $(EXTRA_LDFLAGS)
LDLIBS  := $(REQ_LIBS) $(FEAT_LIBS) $(LDLIBS_BASE)

ifeq ($(filter clean help,$(MAKECMDGOALS)),)
ifneq ($(MAKELEVEL),0)
else
$(info selfalign build ($(BUILD)): required jansson+pcre2+xxhash $(call yesno,$(HAVE_REQ)) | OpenBLAS $(call yesno,$(HAVE_OPENBLAS))$(if $(OPENBLAS_VARIANT), ($(OPENBLAS_VARIANT))) | OpenMP $(call yesno,$(HAVE_OPENMP)) | Open MPI $(call yesno,$(HAVE_MPI)) | CUDA $(call yesno,$(HAVE_CUDA)) | libcurl $(call yesno,$(HAVE_CURL)) | libmicrohttpd $(call yesno,$(HAVE_MHD)))
ifneq ($(HAVE_REQ),1)
$(warning required libraries missing: run scripts/setup (needs libjansson-dev libpcre2-dev libxxhash-dev))
endif
endif
endif

# ---- sources -------------------------------------------------------------------
LIB_SRC   := $(sort $(wildcard src/*/*.c))
CLI_SRC   := $(sort $(wildcard cli/*.c))
TEST_SRC  := $(sort $(wildcard tests/test_*.c))
TEST_HELP := $(filter-out $(TEST_SRC),$(sort $(wildcard tests/*.c)))
BENCH_SRC := $(sort $(wildcard bench/*.c))
TOOL_SRC  := $(sort $(wildcard tools/*.c))

# prompts/*.txt are embedded into the library (prompts.h): a host tool writes
# $(BUILD)/gen/prompts_builtin.c, always linked in (also with LIB_SRC=...).
PROMPT_TXT   := $(sort $(wildcard prompts/*.txt))
PROMPTS_GEN  := $(BUILD)/gen/prompts_builtin.c
PROMPTS_OBJ  := $(BUILD)/obj/gen/prompts_builtin.o
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(PROMPTS_OBJ)
CLI_OBJ   := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TEST_HELP_OBJ := $(TEST_HELP:%.c=$(BUILD)/obj/%.o)
LIB       := $(BUILD)/libselfalign.a
BIN       := $(BUILD)/selfalign
TEST_BINS := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCH_BINS:= $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
TOOL_BINS := $(TOOL_SRC:tools/%.c=$(BUILD)/tools/%)

.PHONY: all lib test asan strict bench fuzz clean help
# keep object files of tests, benches and tools (make would delete them as intermediates)
.SECONDARY:
all: $(BIN) $(TEST_BINS) $(BENCH_BINS) $(TOOL_BINS)
lib: $(LIB)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/gen/embed_prompts: tools/embed_prompts.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) -std=c11 -O1 -Wall -Wextra $< -o $@

$(PROMPTS_GEN): $(PROMPT_TXT) prompts $(BUILD)/gen/embed_prompts
	$(Q)$(BUILD)/gen/embed_prompts $@ $(PROMPT_TXT)

$(PROMPTS_OBJ): $(PROMPTS_GEN)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BIN): $(CLI_OBJ) $(LIB)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS) $(CLI_OBJ) $(LIB) $(LDLIBS) -o $@

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(TEST_HELP_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS) $< $(TEST_HELP_OBJ) $(LIB) $(LDLIBS) -o $@

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) $< $(LIB) $(LDLIBS) -o $@

$(BUILD)/tools/%: $(BUILD)/obj/tools/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) $< $(LIB) $(LDLIBS) -o $@

test: all
	@tests/run $(BUILD)

asan:
	@$(MAKE) --no-print-directory BUILD=build-asan SAN=1 OPT=-O1 all
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1 \
	 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	 SA_BIN=$(CURDIR)/build-asan/selfalign tests/run build-asan

strict:
	@$(MAKE) --no-print-directory BUILD=build-strict STRICT=1 all

bench: all
	@for b in $(BENCH_BINS); do echo "== $$b"; $$b || exit 1; done

FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
fuzz: $(PROMPTS_GEN)
	@mkdir -p build-fuzz
	@for f in $(FUZZ_SRC); do n=$$(basename $$f .c); echo "  FUZZ    build-fuzz/$$n"; \
	  clang -std=c11 -D_GNU_SOURCE -g -O1 -Iinclude $(REQ_CFLAGS) -fsanitize=fuzzer,address,undefined \
	    $$f $(LIB_SRC) $(PROMPTS_GEN) $(REQ_LIBS) -lm -lpthread -o build-fuzz/$$n || exit 1; done

clean:
	rm -rf build build-asan build-strict build-fuzz

help:
	@sed -n '1,12p' Makefile

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_SRC:%.c=$(BUILD)/obj/%.d) $(TEST_HELP_OBJ:.o=.d)
