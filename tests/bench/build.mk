# Benchmarks: programs that print figures, run by `make bench`; never part
# of the test suite. Included by the top Makefile after the test
# variables (it needs TEST_LIB_OBJS).

BENCH_SRCS := $(sort $(wildcard tests/bench/bench-*.c))
BENCHMARKS += $(BENCH_SRCS:tests/bench/%.c=$(BUILDDIR)/tests/bench/%)

$(BUILDDIR)/tests/bench/%: $(BUILDDIR)/tests/bench/%.o $(TEST_LIB_OBJS) $(LIBP11)
	$(CC) $(JETON_LDFLAGS) $(LDFLAGS) $^ -o $@ $(PKG_LIBS) -ldl
