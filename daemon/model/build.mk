# ---- the order and profile model -------------------------------------------
# Included by the top Makefile. Pure code (no bus, no store, no token): one
# static archive that jetond and the unit tests link. It uses the token
# library (subject names, key specs, hashes) and the daemon's util.c (strv).
# Whoever links it puts it before $(LIBP11).

MODEL_SRCS := $(sort $(wildcard daemon/model/*.c))
MODEL_OBJS := $(MODEL_SRCS:%.c=$(BUILDDIR)/%.o)
MODEL_LIB := $(BUILDDIR)/libjeton-model.a
# Pure helpers of the daemon the model shares (strv).
MODEL_DEPS := $(BUILDDIR)/daemon/util.o
MODEL_CPPFLAGS := -Idaemon/model -Idaemon \
	-DJETON_SYSCONF_PROFILES_DIR='"$(SYSCONFDIR)/jeton/profiles"' \
	-DJETON_PROFILES_DIR='"$(DATADIR)/jeton/profiles"'

$(MODEL_OBJS): JETON_CPPFLAGS += $(MODEL_CPPFLAGS)

$(MODEL_LIB): $(MODEL_OBJS)
	@mkdir -p $(@D)
	$(AR) rcs $@ $^

# The model's unit tests link the archive before the token library (a
# static archive only resolves what is already wanted when the linker
# reaches it, so the top rule's "$^" order would not do). A more specific
# pattern than the top's tests/unit/% rule, so make prefers it.
MODEL_TESTS := $(filter $(BUILDDIR)/tests/unit/test-model-%,$(UNIT_TESTS))
$(MODEL_TESTS:%=%.o): JETON_CPPFLAGS += $(MODEL_CPPFLAGS)

$(BUILDDIR)/tests/unit/test-model-%: $(BUILDDIR)/tests/unit/test-model-%.o $(TEST_LIB_OBJS) $(MODEL_LIB) \
		$(MODEL_DEPS) $(LIBP11)
	$(CC) $(JETON_LDFLAGS) $(LDFLAGS) $^ -o $@ $(CMOCKA_LIBS) $(PKG_LIBS) -ldl

# Shipped profiles.
PROFILES := $(sort $(wildcard daemon/profiles/*.profile))

.PHONY: install-profiles
install-profiles:
	install -d $(DESTDIR)$(DATADIR)/jeton/profiles
	install -m 0644 $(PROFILES) $(DESTDIR)$(DATADIR)/jeton/profiles/

INSTALL_TARGETS += install-profiles
