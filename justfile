# Conveniences only: the README's two commands and .ci/run do not need just.

# run everything locally (embedded Temporal + UI, PostgreSQL, API, worker)
dev *ARGS:
    go run ./cmd/checkflow dev {{ARGS}}

# the README's test command
test *ARGS:
    go test ./... {{ARGS}}

# formatting, vet and Temporal's determinism analyzer on workflow code
lint:
    test -z "$(gofmt -l $(git ls-files '*.go'))"
    go vet ./...
    go run go.temporal.io/sdk/contrib/tools/workflowcheck@v0.6.0 -config workflowcheck.config.yaml ./workflows/...

# benchmarks (not run by go test ./...)
bench PATTERN='.' *ARGS:
    go test -run '^$' -bench '{{PATTERN}}' -benchmem ./... {{ARGS}}

# what CI runs
ci:
    bash .ci/run
