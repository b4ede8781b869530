# hostnet — the two commands of the README, and the helpers they use.
CARGO ?= cargo
BIN := target/release/hostnet

.PHONY: demo test deps build man bench bench-quick clean

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

# Regenerate man/*.8 from the clap definitions.
man:
	HOSTNET_UPDATE_MAN=1 $(CARGO) test --locked --test man_pages

clean:
	$(CARGO) clean
