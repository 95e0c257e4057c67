# Kapok's container image: one static binary on a distroless base, run as a non-root user.
#
#   docker build -t kapok .
#   docker run -p 8080:8080 -e KAPOK_UPSTREAM=postgres://user:password@db:5432/app kapok
#
# The build stage runs the Makefile's build (the console, then CGO_ENABLED=0, BUILD_FLAGS); the Helm chart
# (configs/helm/kapok) mounts its configuration over /etc/kapok/kapok.yaml.

FROM golang:1.26 AS build
WORKDIR /src
# The modules first, so a change to the code alone reuses the downloaded modules' layer.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The web console, embedded by go build (console/build installs Node.js and npm with apt-get).
RUN ./console/build
RUN CGO_ENABLED=0 go build -trimpath -o /out/kapok ./cmd/kapok

# static-debian12 holds CA certificates, /etc/passwd with the nonroot user and tzdata:
# all a static Go binary needs to reach PostgreSQL over TLS and to send webhooks.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/kapok /usr/local/bin/kapok
COPY configs/docker/kapok.yaml /etc/kapok/kapok.yaml
# nonroot's uid and gid, as numbers, so that Kubernetes' runAsNonRoot can check them.
USER 65532:65532
# HTTP (GraphQL, REST, /metrics, /healthz, /readyz) and the Postgres wire protocol.
EXPOSE 8080 6543
ENTRYPOINT ["/usr/local/bin/kapok", "serve"]
CMD ["--config", "/etc/kapok/kapok.yaml"]
