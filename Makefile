# jeton: smart-card token provisioning daemon.
#
# Non-recursive: every object lands in $(BUILDDIR) beside its .d file; the
# token library is one static archive that the daemon, the tools and the
# tests all link. `make check` installs what it needs (Debian packages),
# builds everything and runs every test, then runs them again under
# ASan + UBSan and the token-library tests under valgrind.

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
LIBEXECDIR ?= $(PREFIX)/libexec
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
SYSCONFDIR ?= /etc
DESTDIR ?=

BUILDDIR ?= build
CC ?= cc
PKG_CONFIG ?= pkg-config

VERSION := 0.1.0

# Sub-makefiles below add rules before `all`; keep it the default goal.
.DEFAULT_GOAL := all

# Every library through pkg-config. Recursive '=' on purpose: on a fresh
# machine pkg-config only knows them once `make deps` has run.
PKGS = libcrypto p11-kit-1 libsystemd libpcsclite sqlite3 inih libudev json-c
PKG_CFLAGS = $(shell $(PKG_CONFIG) --cflags $(PKGS))
PKG_LIBS = $(shell $(PKG_CONFIG) --libs $(PKGS))
CMOCKA_LIBS = $(shell $(PKG_CONFIG) --libs cmocka)

CFLAGS ?= -O2 -g
WARNINGS := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wmissing-prototypes \
	-Wstrict-prototypes -Wno-unused-parameter -Wvla -Wdate-time
JETON_CPPFLAGS := -D_GNU_SOURCE -DOPENSSL_API_COMPAT=30000 -DJETON_VERSION='"$(VERSION)"' \
	-Ipkcs11
JETON_CFLAGS = -std=gnu11 $(WARNINGS) -fno-strict-aliasing -fstack-protector-strong \
	-D_FORTIFY_SOURCE=2 -fPIC $(PKG_CFLAGS) $(SAN_FLAGS)
JETON_LDFLAGS = $(SAN_FLAGS) -Wl,-z,relro,-z,now

ifeq ($(SANITIZE),1)
  SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
  CFLAGS := -O1 -g
endif

ALL_CFLAGS = $(JETON_CPPFLAGS) $(CPPFLAGS) $(JETON_CFLAGS) $(CFLAGS)

# ---- the token library ---------------------------------------------------
LIBP11_SRCS := $(sort $(wildcard pkcs11/*.c))
LIBP11_OBJS := $(LIBP11_SRCS:%.c=$(BUILDDIR)/%.o)
LIBP11 := $(BUILDDIR)/libjeton-p11.a

# ---- tests ----------------------------------------------------------------
TEST_LIB_SRCS := $(sort $(wildcard tests/lib/*.c))
TEST_LIB_OBJS := $(TEST_LIB_SRCS:%.c=$(BUILDDIR)/%.o)
UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILDDIR)/tests/unit/%,$(sort $(wildcard tests/unit/test-*.c)))
P11_TESTS := $(patsubst tests/p11/%.c,$(BUILDDIR)/tests/p11/%,$(sort $(wildcard tests/p11/test-*.c)))
ALL_TESTS := $(UNIT_TESTS) $(P11_TESTS)

# ---- daemon, tools, fixture: added as they arrive -------------------------
-include daemon/build.mk
-include tools/build.mk
-include tests/fixture/build.mk
-include tests/testbed/build.mk
-include tests/bench/build.mk
-include daemon/model/build.mk
-include daemon/store/build.mk
-include tests/fuzz/build.mk

# Keep intermediate objects of chained rules (test .o files).
.SECONDARY:

.PHONY: all
all: $(LIBP11) $(PROGRAMS) $(ALL_TESTS) $(FIXTURES)

$(LIBP11): $(LIBP11_OBJS)
	@mkdir -p $(@D)
	$(AR) rcs $@ $^

$(BUILDDIR)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(BUILDDIR)/tests/unit/%: $(BUILDDIR)/tests/unit/%.o $(TEST_LIB_OBJS) $(LIBP11)
	$(CC) $(JETON_LDFLAGS) $(LDFLAGS) $^ -o $@ $(CMOCKA_LIBS) $(PKG_LIBS) -ldl

$(BUILDDIR)/tests/p11/%: $(BUILDDIR)/tests/p11/%.o $(TEST_LIB_OBJS) $(LIBP11)
	$(CC) $(JETON_LDFLAGS) $(LDFLAGS) $^ -o $@ $(CMOCKA_LIBS) $(PKG_LIBS) -ldl

-include $(shell find $(BUILDDIR) -name '*.d' 2>/dev/null)

# ---- dependencies ---------------------------------------------------------
# One list, used by `make deps`, `make check` and `.ci/run`.
DEBIAN_PACKAGES := $(shell sed -e 's/\#.*//' tests/debian-packages)

.PHONY: deps
deps:
	@tests/ensure-packages $(DEBIAN_PACKAGES)

# ---- tests ----------------------------------------------------------------
.PHONY: check check-unit check-p11 check-asan check-valgrind check-all
# Packages first, in their own step: pkg-config must see them before the
# sub-make expands any compiler flag.
check: deps
	+$(MAKE) --no-print-directory check-all
	+$(MAKE) --no-print-directory check-asan
	+$(MAKE) --no-print-directory check-valgrind

check-all: all
	@tests/run-tests $(ALL_TESTS) $(INTEGRATION_TESTS)

check-unit: $(UNIT_TESTS)
	@tests/run-tests $(UNIT_TESTS)

check-p11: $(P11_TESTS)
	@tests/run-tests $(P11_TESTS)

# The whole suite again with AddressSanitizer + UndefinedBehaviorSanitizer.
check-asan:
	+$(MAKE) --no-print-directory BUILDDIR=$(BUILDDIR)/asan SANITIZE=1 check-all

# The C tests under valgrind, and the integration tests that drive jetond
# through orders, provisioning and installs with jetond under valgrind: no
# leak of ours, no bad access (valgrind's exit code is checked when each
# jetond stops).
VALGRIND_INTEGRATION_TESTS = $(filter %/test-orders %/test-provision %/test-hardening,$(INTEGRATION_TESTS))
check-valgrind: all
	@JETON_VALGRIND=1 tests/run-tests $(ALL_TESTS) $(VALGRIND_INTEGRATION_TESTS)

# ---- the demo ---------------------------------------------------------------
# The README's first command: a sandbox (private bus, SoftHSM demo token,
# jetond) doing the main job on a sample order. check runs it too (it
# stops by itself without a terminal), so the quick start cannot rot.
DEMO := $(BUILDDIR)/tests/testbed/demo
INTEGRATION_TESTS += $(DEMO)
all: $(DEMO)

$(DEMO): tests/testbed/demo.py $(PROGRAMS)
	$(python-test-wrapper)

.PHONY: demo
demo: deps
	+$(MAKE) --no-print-directory all
	@$(DEMO)

# ---- benchmarks -----------------------------------------------------------
.PHONY: bench
bench: all $(BENCHMARKS)
	@for b in $(BENCHMARKS); do echo "== $$b"; $$b || exit 1; done

# ---- install --------------------------------------------------------------
.PHONY: install
install: all $(INSTALL_TARGETS)

.PHONY: clean
clean:
	rm -rf $(BUILDDIR)
