# ---- fuzz targets -----------------------------------------------------------
# Included by the top Makefile.
#
# `make fuzz` builds each target with clang's libFuzzer plus ASan and UBSan
# in $(BUILDDIR)/fuzz/ (not part of `all` or `check`). Run one with e.g.
#   ASAN_OPTIONS=strict_string_checks=1 build/fuzz/fuzz-profile -max_total_time=150 \
#       -dict=tests/fuzz/profile.dict build/fuzz/corpus-profile tests/fuzz/corpus/profile
# (strict_string_checks as tests/run-tests sets it: it caught a strndup()
# over an unterminated buffer that the default options let pass)
# (new inputs go to the first directory; copy the small, interesting ones
# into tests/fuzz/corpus/<target>/).
#
# `make check` replays every seed corpus with the normal compiler through
# fuzz-replay.c: $(BUILDDIR)/tests/fuzz/replay-<target>, in INTEGRATION_TESTS.

FUZZ_TARGETS := profile order-csv order-json cert-bundle

# ---- replay, with the project's compiler and flags (ASan in check-asan) ------
FUZZ_REPLAY := $(FUZZ_TARGETS:%=$(BUILDDIR)/tests/fuzz/replay-%)
FUZZ_REPLAY_CPPFLAGS = $(MODEL_CPPFLAGS) -DFUZZ_SOURCE_TOP='"$(CURDIR)"'

$(BUILDDIR)/tests/fuzz/%.o: JETON_CPPFLAGS += $(FUZZ_REPLAY_CPPFLAGS)

$(BUILDDIR)/tests/fuzz/replay-%: $(BUILDDIR)/tests/fuzz/fuzz-%.o $(BUILDDIR)/tests/fuzz/fuzz-replay.o \
		$(MODEL_LIB) $(MODEL_DEPS) $(LIBP11)
	$(CC) $(JETON_LDFLAGS) $(LDFLAGS) $^ -o $@ $(PKG_LIBS) -ldl

INTEGRATION_TESTS += $(FUZZ_REPLAY)
all: $(FUZZ_REPLAY)

# ---- libFuzzer ---------------------------------------------------------------
FUZZ_CC ?= clang
FUZZ_DIR := $(BUILDDIR)/fuzz
FUZZ_BINS := $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz-%)
# Everything the targets reach is instrumented, the libraries we own too.
FUZZ_SRCS := $(LIBP11_SRCS) $(MODEL_SRCS) daemon/util.c
FUZZ_OBJS := $(FUZZ_SRCS:%.c=$(FUZZ_DIR)/%.o)
FUZZ_CFLAGS = -std=gnu11 -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined \
	-fno-sanitize-recover=undefined $(JETON_CPPFLAGS) $(MODEL_CPPFLAGS) $(PKG_CFLAGS)

# A more specific pattern than the top's $(BUILDDIR)/%.o rule.
$(FUZZ_DIR)/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@

$(FUZZ_DIR)/fuzz-%: $(FUZZ_DIR)/tests/fuzz/fuzz-%.o $(FUZZ_OBJS)
	$(FUZZ_CC) -fsanitize=fuzzer,address,undefined $^ -o $@ $(PKG_LIBS) -ldl

.PHONY: fuzz
fuzz: $(FUZZ_BINS)
