# jetonctl, and the installation of everything that ships: the programs,
# their man pages, the systemd unit, the D-Bus activation file and bus
# policy, the polkit actions and the udev rule. Included by the top
# Makefile.

JETONCTL_SRCS := $(sort $(wildcard tools/*.c))
JETONCTL_OBJS := $(JETONCTL_SRCS:%.c=$(BUILDDIR)/%.o)
# jetonctl only speaks D-Bus: sd-bus is all it needs of $(PKG_LIBS).
JETONCTL_LIBS = $(shell $(PKG_CONFIG) --libs libsystemd)

PROGRAMS += $(BUILDDIR)/jetonctl

$(BUILDDIR)/jetonctl: $(JETONCTL_OBJS)
	$(CC) $(JETON_LDFLAGS) $(LDFLAGS) $^ -o $@ $(JETONCTL_LIBS)

# The pure parts of jetonctl are unit tested on their own: the test link
# rule ($^) picks these objects up.
$(BUILDDIR)/tests/unit/test-token-match: $(BUILDDIR)/tools/token-match.o
$(BUILDDIR)/tests/unit/test-json: $(BUILDDIR)/tools/json.o
$(BUILDDIR)/tests/unit/test-jetonctl-pin: $(BUILDDIR)/tools/pin-read.o
$(BUILDDIR)/tests/unit/test-jetonctl-progress: $(BUILDDIR)/tools/progress.o $(BUILDDIR)/tools/text.o \
	$(BUILDDIR)/tools/error-name.o
$(BUILDDIR)/tests/unit/test-jetonctl-batch: $(BUILDDIR)/tools/batch-format.o $(BUILDDIR)/tools/progress.o \
	$(BUILDDIR)/tools/text.o $(BUILDDIR)/tools/bus-value.o $(BUILDDIR)/tools/json.o

# jetonctl against the real jetond on the test bed, through the test bed's
# wrapper (python-test-wrapper, tests/fixture/build.mk), which points it at
# this build tree; JETONCTL and JETOND in the environment override.
JETONCTL_TESTS := $(BUILDDIR)/tests/integration/test-jetonctl \
	$(BUILDDIR)/tests/integration/test-jetonctl-orders \
	$(BUILDDIR)/tests/integration/test-jetonctl-batch

$(JETONCTL_TESTS): $(BUILDDIR)/tests/integration/%: tests/integration/%.py $(BUILDDIR)/jetonctl \
		$(JETOND_TEST_DEPS)
	$(python-test-wrapper)

all: $(JETONCTL_TESTS)

# The shell tests find the build tree in $BUILDDIR (exported by make when
# given on its command line, as check-asan does), else ./build.
INTEGRATION_TESTS += $(JETONCTL_TESTS) tests/integration/test-udev-rules.sh tests/integration/test-install.sh

# ---- install ----------------------------------------------------------------
# Paths follow the FHS and Debian's layout when PREFIX=/usr: units in
# /usr/lib/systemd/system, rules in /usr/lib/udev/rules.d.
UNITDIR ?= $(PREFIX)/lib/systemd/system
UDEVRULESDIR ?= $(PREFIX)/lib/udev/rules.d
DBUS_SYSTEM_SERVICES_DIR ?= $(DATADIR)/dbus-1/system-services
DBUS_SYSTEM_POLICY_DIR ?= $(DATADIR)/dbus-1/system.d
POLKIT_ACTIONS_DIR ?= $(DATADIR)/polkit-1/actions

INSTALL ?= install
INSTALL_PROGRAM ?= $(INSTALL) -m 0755
INSTALL_DATA ?= $(INSTALL) -m 0644

INSTALL_TARGETS += install-jeton

.PHONY: install-jeton
install-jeton: $(BUILDDIR)/jetonctl
	$(INSTALL) -d -m 0755 $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(DBUS_SYSTEM_SERVICES_DIR) $(DESTDIR)$(DBUS_SYSTEM_POLICY_DIR) \
		$(DESTDIR)$(POLKIT_ACTIONS_DIR) $(DESTDIR)$(UDEVRULESDIR)
	$(INSTALL_PROGRAM) $(BUILDDIR)/jetonctl $(DESTDIR)$(BINDIR)/jetonctl
	$(INSTALL_DATA) tools/jetonctl.1 $(DESTDIR)$(MANDIR)/man1/jetonctl.1
	sed -e 's|@SBINDIR@|$(SBINDIR)|g' systemd/jetond.service >$(DESTDIR)$(UNITDIR)/jetond.service.tmp
	chmod 0644 $(DESTDIR)$(UNITDIR)/jetond.service.tmp
	mv -f $(DESTDIR)$(UNITDIR)/jetond.service.tmp $(DESTDIR)$(UNITDIR)/jetond.service
	$(INSTALL_DATA) systemd/org.jeton.Jeton1.service $(DESTDIR)$(DBUS_SYSTEM_SERVICES_DIR)/org.jeton.Jeton1.service
	$(INSTALL_DATA) systemd/org.jeton.Jeton1.conf $(DESTDIR)$(DBUS_SYSTEM_POLICY_DIR)/org.jeton.Jeton1.conf
	$(INSTALL_DATA) systemd/org.jeton.Jeton1.policy $(DESTDIR)$(POLKIT_ACTIONS_DIR)/org.jeton.Jeton1.policy
	$(INSTALL_DATA) udev/70-jeton.rules $(DESTDIR)$(UDEVRULESDIR)/70-jeton.rules

# jetond and its page, when this tree builds it (daemon/build.mk).
ifneq ($(filter $(BUILDDIR)/jetond,$(PROGRAMS)),)
INSTALL_TARGETS += install-jetond

.PHONY: install-jetond
install-jetond: $(BUILDDIR)/jetond
	$(INSTALL) -d -m 0755 $(DESTDIR)$(SBINDIR)
	$(INSTALL_PROGRAM) $(BUILDDIR)/jetond $(DESTDIR)$(SBINDIR)/jetond
ifneq ($(wildcard daemon/jetond.8),)
	$(INSTALL) -d -m 0755 $(DESTDIR)$(MANDIR)/man8
	$(INSTALL_DATA) daemon/jetond.8 $(DESTDIR)$(MANDIR)/man8/jetond.8
endif
endif
