# hostnet — the two commands of the README, and the helpers they use.
CARGO ?= cargo
BIN := target/release/hostnet

.PHONY: demo test deps build man bench bench-quick chaos boot-test clean

deps:
	@bash scripts/install-deps.sh

build: deps
	$(CARGO) build --release --locked

# Everything on an embedded default, inside a throwaway network namespace.
demo: build
	@bash scripts/demo.sh $(BIN)

# The whole suite: unit tests, then integration tests (real binary, as root,
# each in namespaces it creates and deletes).
test: deps
	$(CARGO) test --locked -- --test-threads=$${TEST_THREADS:-4}

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

clean:
	$(CARGO) clean
