# hostnet — the two commands of the README, and the helpers they use.
CARGO ?= cargo
BIN ?= target/release/hostnet

# `make install` / `make uninstall` (DESTDIR for staging; see README "Install")
PREFIX ?= /usr/local
DESTDIR ?=
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man/man8
UNITDIR ?= $(PREFIX)/lib/systemd/system
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR ?= $(PREFIX)/share/zsh/site-functions
FISHCOMPDIR ?= $(PREFIX)/share/fish/vendor_completions.d
# where the CNI plugin link goes: CNI_BIN_DIR, else each of these that exists
# (under DESTDIR or on this machine), else the first
CNI_BIN_DIRS ?= /opt/cni/bin /usr/lib/cni
CNI_BIN_DIR ?=
cni_dirs = $(or $(CNI_BIN_DIR),$(or $(strip $(foreach d,$(CNI_BIN_DIRS),$(if $(wildcard $(DESTDIR)$(d) $(d)),$(d)))),$(firstword $(CNI_BIN_DIRS))))
# NO_BUILD=1: install $(BIN) as it is (no cargo build first)
install_deps = $(if $(NO_BUILD),,build)

# The lint gate `make test` runs first.
lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets --locked -- -D warnings

.PHONY: demo test lint deps build man bench bench-quick chaos boot-test clean install uninstall deb completions syscalls

deps:
	@bash scripts/install-deps.sh

build: deps
	$(CARGO) build --release --locked

# Everything on an embedded default, inside a throwaway network namespace.
demo: build
	@bash scripts/demo.sh $(BIN)

# The whole suite: the lint gate (format, clippy with warnings as errors), then
# unit tests, then integration tests (real binary, as root, each in namespaces
# it creates and deletes), then the real boot test (two systemd boots of a
# Debian 12 rootfs in a network namespace of its own; about a minute cold).
test: deps lint
	$(CARGO) test --locked -- --test-threads=$${TEST_THREADS:-4}
	$(MAKE) --no-print-directory boot-test

# The chaos test at full size: 500 cycles of ADD/DEL/portmap add/del/init
# killed with SIGKILL at syscall boundaries and at random moments (make test
# runs the same test with a few dozen cycles). HOSTNET_CHAOS_CYCLES overrides.
chaos: deps
	HOSTNET_CHAOS_CYCLES=$${HOSTNET_CHAOS_CYCLES:-500} $(CARGO) test --locked --test chaos -- --nocapture

# The real boot test: a Debian 12 rootfs (debootstrap, cached under
# target/boot/rootfs) booted twice by systemd-nspawn with its own network
# namespace, the binary and systemd/*.service installed; see the script.
boot-test: build
	@bash scripts/install-deps.sh debootstrap systemd-container
	@bash scripts/boot-test.sh $(BIN)

# Regenerate man/*.8 from the clap definitions.
man:
	HOSTNET_UPDATE_MAN=1 $(CARGO) test --locked --test man_pages

# Side by side with the reference CNI chain and netavark (installed from Debian
# packages by scripts/install-bench-deps.sh), in throwaway namespaces; prints
# the table and writes it into BENCHMARKS.md. Takes up to ~25 min.
bench: deps
	@bash scripts/install-bench-deps.sh
	$(CARGO) bench --locked --bench peers -- --write BENCHMARKS.md

# Smoke run of the same code with n=1 and tiny sizes (well under a minute);
# fails if anything fails to run. It asserts no timing.
bench-quick: deps
	@bash scripts/install-bench-deps.sh
	$(CARGO) bench --locked --bench peers -- --quick

# System calls of one CNI ADD and DEL (sockets by family, threads, netlink
# sends, strace -c), in a throwaway network namespace.
syscalls: build
	@bash scripts/syscalls.sh $(BIN)

# Shell completions generated from the clap definitions, for install and deb.
completions: $(install_deps)
	@mkdir -p target/completions
	$(BIN) completions bash > target/completions/hostnet.bash
	$(BIN) completions zsh > target/completions/_hostnet
	$(BIN) completions fish > target/completions/hostnet.fish

install: $(install_deps) completions
	install -D -m 0755 $(BIN) $(DESTDIR)$(SBINDIR)/hostnet
	set -e; for d in $(cni_dirs); do \
	  install -d $(DESTDIR)$$d; \
	  ln -sfn $(SBINDIR)/hostnet $(DESTDIR)$$d/hostnet; \
	  echo "$$d/hostnet -> $(SBINDIR)/hostnet"; \
	done
	install -d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(MANDIR)
	set -e; for u in systemd/*.service; do \
	  sed 's|/usr/sbin/hostnet|$(SBINDIR)/hostnet|g' $$u > $(DESTDIR)$(UNITDIR)/$${u#systemd/}; \
	  chmod 0644 $(DESTDIR)$(UNITDIR)/$${u#systemd/}; \
	done
	install -m 0644 man/*.8 $(DESTDIR)$(MANDIR)/
	install -D -m 0644 target/completions/hostnet.bash $(DESTDIR)$(BASHCOMPDIR)/hostnet
	install -D -m 0644 target/completions/_hostnet $(DESTDIR)$(ZSHCOMPDIR)/_hostnet
	install -D -m 0644 target/completions/hostnet.fish $(DESTDIR)$(FISHCOMPDIR)/hostnet.fish
	@echo "installed; enable the units with: systemctl daemon-reload && systemctl enable hostnet.service hostnet-nftables.service"

# Removes exactly what install put there (a CNI link only if it is ours).
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/hostnet
	set -e; for d in $(CNI_BIN_DIR) $(CNI_BIN_DIRS); do \
	  if [ "$$(readlink $(DESTDIR)$$d/hostnet 2>/dev/null)" = "$(SBINDIR)/hostnet" ]; then rm -f $(DESTDIR)$$d/hostnet; fi; \
	done
	set -e; for u in systemd/*.service; do rm -f $(DESTDIR)$(UNITDIR)/$${u#systemd/}; done
	set -e; for m in man/*.8; do rm -f $(DESTDIR)$(MANDIR)/$${m#man/}; done
	rm -f $(DESTDIR)$(BASHCOMPDIR)/hostnet $(DESTDIR)$(ZSHCOMPDIR)/_hostnet $(DESTDIR)$(FISHCOMPDIR)/hostnet.fish

# A Debian package (target/debian/hostnet_*.deb) with cargo-deb, installed
# from crates.io when missing; metadata in Cargo.toml [package.metadata.deb].
deb: build completions
	@command -v cargo-deb >/dev/null || $(CARGO) install cargo-deb --locked
	$(CARGO) deb --no-build --locked

clean:
	$(CARGO) clean
