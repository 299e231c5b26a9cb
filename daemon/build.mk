# ---- jetond: the daemon ---------------------------------------------------
# Included by the top Makefile.

JETOND_SRCS := $(sort $(wildcard daemon/*.c))
JETOND_OBJS := $(JETOND_SRCS:%.c=$(BUILDDIR)/%.o)

# The default OpenSC path and the vendor-module table depend on the
# multiarch tuple (/usr/lib/x86_64-linux-gnu/...).
JETON_MULTIARCH := $(or $(shell $(CC) -print-multiarch 2>/dev/null),$(shell dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null))
$(JETOND_OBJS): JETON_CPPFLAGS += -DJETON_MULTIARCH='"$(JETON_MULTIARCH)"'

PROGRAMS += $(BUILDDIR)/jetond

# The store and model archives (daemon/store/build.mk, daemon/model/build.mk,
# included after this file: hence the literal names) come before the token
# library; the model's MODEL_DEPS (util.o) is one of our objects already.
JETOND_ARCHIVES := $(BUILDDIR)/libjeton-store.a $(BUILDDIR)/libjeton-model.a
$(JETOND_OBJS): JETON_CPPFLAGS += -Idaemon/store -Idaemon/model -Idaemon

$(BUILDDIR)/jetond: $(JETOND_OBJS) $(JETOND_ARCHIVES) $(LIBP11)
	$(CC) $(JETON_LDFLAGS) $(LDFLAGS) $^ -o $@ $(PKG_LIBS) -lpthread -ldl

# Integration tests and the benchmark run through the test bed's wrapper
# (python-test-wrapper, tests/fixture/build.mk): JETON_BUILDDIR tells them
# which build tree's jetond and fixture to use (JETOND overrides the daemon).
JETOND_TEST_DEPS = $(BUILDDIR)/jetond $(BUILDDIR)/tests/fixture/libjeton-fixture-p11.so \
	$(BUILDDIR)/tests/testbed/pcsc-readers
JETOND_TESTS := $(BUILDDIR)/tests/integration/test-detect $(BUILDDIR)/tests/integration/test-udev \
	$(BUILDDIR)/tests/integration/test-orders $(BUILDDIR)/tests/integration/test-provision \
	$(BUILDDIR)/tests/integration/test-hardening \
	$(BUILDDIR)/tests/integration/test-batch
JETOND_BENCHMARKS := $(BUILDDIR)/tests/bench/bench-detect $(BUILDDIR)/tests/bench/bench-provision \
	$(BUILDDIR)/tests/bench/bench-batch

INTEGRATION_TESTS += $(JETOND_TESTS)
BENCHMARKS += $(JETOND_BENCHMARKS)

$(JETOND_TESTS): $(BUILDDIR)/tests/integration/%: tests/integration/%.py $(JETOND_TEST_DEPS)
	$(python-test-wrapper)

$(JETOND_BENCHMARKS): $(BUILDDIR)/tests/bench/%: tests/bench/%.py $(JETOND_TEST_DEPS)
	$(python-test-wrapper)

all: $(JETOND_TESTS)
