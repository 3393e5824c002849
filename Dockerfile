# syntax=docker/dockerfile:1
# TrustID images: `docker build .` (or --target trustid) gives the node,
# `--target chaincode` the contract served as chaincode-as-a-service.
# Both are static binaries (CGO_ENABLED=0, -trimpath) on an empty base
# with the CA bundle, run as the non-root UID 65532. docker-compose.yml
# builds both; docs/operations.md ("Deployment") explains the setup.

# The Go release of go.mod's toolchain line.
FROM golang:1.27.3 AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOTOOLCHAIN=local
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN go build -trimpath -ldflags="-s -w" -o /out/trustid ./cmd/trustid \
 && go build -trimpath -ldflags="-s -w" -o /out/trustid-chaincode ./cmd/trustid-chaincode \
 && mkdir -p /out/data

# The contract, dialled by the peers (CHAINCODE_ID, CHAINCODE_SERVER_ADDRESS).
FROM scratch AS chaincode
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/trustid-chaincode /trustid-chaincode
USER 65532:65532
EXPOSE 9999
ENTRYPOINT ["/trustid-chaincode"]

# The node (the default target: last).
FROM scratch AS trustid
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/trustid /trustid
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
WORKDIR /data
EXPOSE 8080
ENTRYPOINT ["/trustid"]
CMD ["serve", "--data", "/data", "--addr", "0.0.0.0:8080"]
