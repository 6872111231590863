# authflow: one static binary (api, worker, migrate, users, flows,
# healthcheck, …) on a
# distroless base. docker-compose.yml builds it for the production shape;
# deploy/compose_test.go checks the two stay consistent.
#
#   docker build -t authflow .
#   docker run --rm authflow --help
#
# No shell and no curl in the image: compose's healthchecks run
# `/authflow healthcheck URL`.

# ---- build ------------------------------------------------------------------
# The minor version matches the go directive in go.mod.
FROM golang:1.26 AS build
WORKDIR /src

# Dependencies first, so editing the code does not re-download modules.
COPY go.mod go.sum ./
RUN go mod download

COPY . .
# Pure Go (SQLite is modernc.org/sqlite), so the binary is fully static.
# -tags nodev leaves out `authflow dev` and `bench`, and with them the
# embedded Temporal server and UI: production talks to its own Temporal
# (README "Production" gives both binaries' sizes).
RUN CGO_ENABLED=0 go build -trimpath -tags nodev -ldflags="-s -w" -o /authflow ./cmd/authflow

# ---- run --------------------------------------------------------------------
# static-debian13 carries CA certificates (Telegram, Twilio, SMTP over TLS) and
# tzdata, and nothing else: no shell, no package manager.
FROM gcr.io/distroless/static-debian13:nonroot
COPY --from=build /authflow /authflow
# uid/gid 65532 ("nonroot"), numeric so orchestrators can verify non-root.
USER 65532:65532
# AUTHFLOW_HTTP_ADDR defaults to :8080 (the `api` and `server` subcommands).
EXPOSE 8080
ENTRYPOINT ["/authflow"]
CMD ["--help"]
