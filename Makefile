# The two commands: `make run` starts everything, `make test` runs every test.
GO ?= go
export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/vaxhub
export VAXHUB_DEV_TOKEN ?= dev-token-change-me

.PHONY: run test build vet bench-booking
run:
	deploy/local/ensure-postgres.sh
	$(GO) run ./cmd/vaxhub run

test:
	deploy/local/ensure-postgres.sh
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 9m ./...

build:
	$(GO) build -o bin/vaxhub ./cmd/vaxhub

bench-booking:
	deploy/local/ensure-postgres.sh
	$(GO) run ./cmd/vaxhub bench booking
