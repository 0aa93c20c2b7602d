# The two commands: `make run` starts everything, `make test` runs every test.
GO ?= go
export VAXHUB_DEV_TOKEN ?= dev-token-change-me

.PHONY: run test build vet bench-booking
# run: PostgreSQL's role vaxhub with a generated password; DATABASE_URL, when
# set, wins (see deploy/local/ensure-postgres.sh).
run:
	deploy/local/ensure-postgres.sh run
	$(GO) run ./cmd/vaxhub run

# test: each test creates its own database on the server the script prints
# (VAXHUB_TEST_DATABASE_URL when set).
test:
	@url=$$(deploy/local/ensure-postgres.sh test) && echo "tests create their databases on $$url" && \
	$(GO) vet ./... && VAXHUB_TEST_DATABASE_URL="$$url" $(GO) test -race -count=1 -timeout 9m ./...

build:
	$(GO) build -o bin/vaxhub ./cmd/vaxhub

# bench-booking creates and drops its own databases, so it needs the
# superuser of the tests unless DATABASE_URL names another server.
bench-booking:
	@url=$$(deploy/local/ensure-postgres.sh test) && DATABASE_URL="$${DATABASE_URL:-$$url}" $(GO) run ./cmd/vaxhub bench booking
