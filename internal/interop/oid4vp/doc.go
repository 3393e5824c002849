// Package oid4vp holds the OpenID for Verifiable Presentations interop
// test: TrustID's verifier (package oid4vp behind the api routes) against
// a wallet built on a third-party library from npm, Animo's
// @openid4vc/openid4vp (wallet.mjs), and TrustID's wallet SDK against
// that library's verifier (verifier.mjs); package.json and
// package-lock.json pin the packages.
// scripts/interop.sh installs the npm packages (npm ci) into the
// git-ignored node_modules; under CI a missing node or node_modules fails
// the test.
package oid4vp
