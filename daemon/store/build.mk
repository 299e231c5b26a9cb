# ---- the store (SQLite) -----------------------------------------------------
# Included by the top Makefile, after daemon/model/build.mk (it uses
# MODEL_LIB, MODEL_DEPS). One static archive; whoever links it puts it
# before $(MODEL_LIB), which comes before $(LIBP11).

STORE_SRCS := $(sort $(wildcard daemon/store/*.c))
STORE_OBJS := $(STORE_SRCS:%.c=$(BUILDDIR)/%.o)
STORE_LIB := $(BUILDDIR)/libjeton-store.a
STORE_CPPFLAGS := -Idaemon/store -Idaemon/model -Idaemon

$(STORE_OBJS): JETON_CPPFLAGS += $(STORE_CPPFLAGS)

$(STORE_LIB): $(STORE_OBJS)
	@mkdir -p $(@D)
	$(AR) rcs $@ $^

# Unit tests: a more specific pattern than the top's tests/unit/% rule, so
# make prefers it, with the archives in link order.
STORE_TESTS := $(filter $(BUILDDIR)/tests/unit/test-store-%,$(UNIT_TESTS))
$(STORE_TESTS:%=%.o): JETON_CPPFLAGS += $(STORE_CPPFLAGS)

$(BUILDDIR)/tests/unit/test-store-%: $(BUILDDIR)/tests/unit/test-store-%.o $(TEST_LIB_OBJS) $(STORE_LIB) \
		$(MODEL_LIB) $(MODEL_DEPS) $(LIBP11)
	$(CC) $(JETON_LDFLAGS) $(LDFLAGS) $^ -o $@ $(CMOCKA_LIBS) $(PKG_LIBS) -ldl

# The benchmark (tests/bench/build.mk lists every bench-*.c already; this
# rule, being explicit, wins over its pattern).
STORE_BENCH := $(BUILDDIR)/tests/bench/bench-store
ifeq ($(filter $(STORE_BENCH),$(BENCHMARKS)),)
BENCHMARKS += $(STORE_BENCH)
endif
$(STORE_BENCH).o: JETON_CPPFLAGS += $(STORE_CPPFLAGS)

$(STORE_BENCH): $(STORE_BENCH).o $(STORE_LIB) $(MODEL_LIB) $(MODEL_DEPS) $(LIBP11)
	$(CC) $(JETON_LDFLAGS) $(LDFLAGS) $^ -o $@ $(PKG_LIBS) -ldl
