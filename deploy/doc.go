// Package deploy holds the container deployment's configuration — the
// HAProxy, TrustID and Fabric files docker-compose.yml mounts, and the
// Fabric network's setup scripts — and the test that checks them, the
// root Dockerfile and docker-compose.yml without a container engine. It
// has no code: docs/operations.md ("Deployment") describes the setup.
package deploy
