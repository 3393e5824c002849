// A third-party OID4VCI 1.0 wallet (Animo's @openid4vc/openid4vci) that
// TrustID's interop test (interop_test.go) points at a TrustID node. It
// reads OFFER (an openid-credential-offer:// link), TX_CODE and COUNT
// from the environment, redeems the offer, asks for COUNT credentials of
// every offered configuration, each bound to a fresh ES256 key, sends a
// credential_accepted notification, and prints JSON:
// {"results":[{"configuration","format","credentials":[...],"jwks":[...]}],
// "tokenType"}. With DPOP=1 it binds the access token to an ES256 key of
// its own (RFC 9449: the library's DPoP proofs and nonce handling). With
// ATTESTATION (a wallet attestation JWT) and INSTANCE_JWK (the private
// ES256 JWK of its cnf key) it authenticates at the token endpoint with
// them (the library's attestation-based client authentication).
import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, sign } from 'node:crypto'
import { Openid4vciClient } from '@openid4vc/openid4vci'
import { clientAuthenticationAnonymous, clientAuthenticationClientAttestationJwt } from '@openid4vc/oauth2'
import { setGlobalConfig } from '@openid4vc/utils'

// The node under test listens on http://127.0.0.1.
setGlobalConfig({ allowInsecureUrls: true })

const b64u = (b) => Buffer.from(b).toString('base64url')
const keys = new Map() // x coordinate -> private KeyObject

function newKey() {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const jwk = publicKey.export({ format: 'jwk' })
  keys.set(jwk.x, privateKey)
  return { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y }
}

const callbacks = {
  fetch,
  hash: (data, alg) => createHash(alg.replace('-', '').toLowerCase()).update(data).digest(),
  generateRandom: (n) => randomBytes(n),
  clientAuthentication: clientAuthenticationAnonymous(),
  signJwt: async (signer, { header, payload }) => {
    if (signer.method !== 'jwk' || signer.alg !== 'ES256') throw new Error(`unsupported signer ${signer.method} ${signer.alg}`)
    const key = keys.get(signer.publicJwk.x)
    const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(payload))}`
    const sig = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' })
    return { jwt: `${input}.${b64u(sig)}`, signerJwk: signer.publicJwk }
  },
}

if (process.env.ATTESTATION) {
  const jwk = JSON.parse(process.env.INSTANCE_JWK)
  keys.set(jwk.x, createPrivateKey({ key: jwk, format: 'jwk' }))
  callbacks.clientAuthentication = clientAuthenticationClientAttestationJwt({ clientAttestationJwt: process.env.ATTESTATION, callbacks })
}

const client = new Openid4vciClient({ callbacks })
const offer = await client.resolveCredentialOffer(process.env.OFFER)
const issuerMetadata = await client.resolveIssuerMetadata(offer.credential_issuer)
let dpop = process.env.DPOP === '1' ? { signer: { method: 'jwk', alg: 'ES256', publicJwk: newKey() } } : undefined
const token = await client.retrievePreAuthorizedCodeAccessTokenFromOffer({
  credentialOffer: offer,
  issuerMetadata,
  txCode: process.env.TX_CODE || undefined,
  dpop,
})
const { accessTokenResponse } = token
if (dpop) dpop = token.dpop ?? dpop
// The next DPoP nonce of a resource response.
const nextDpop = (r) => (dpop && r.dpop?.nonce ? { ...dpop, nonce: r.dpop.nonce } : dpop)
const accessToken = accessTokenResponse.access_token
const count = Number(process.env.COUNT || '1')
const results = []
for (const configuration of offer.credential_configuration_ids) {
  const { c_nonce: nonce } = await client.requestNonce({ issuerMetadata })
  const jwks = []
  const jwt = []
  for (let i = 0; i < count; i++) {
    const publicJwk = newKey()
    jwks.push(publicJwk)
    const proof = await client.createCredentialRequestJwtProof({
      issuerMetadata, credentialConfigurationId: configuration, nonce,
      signer: { method: 'jwk', alg: 'ES256', publicJwk },
    })
    jwt.push(proof.jwt)
  }
  const retrieved = await client.retrieveCredentials({
    issuerMetadata, accessToken, credentialConfigurationId: configuration, proofs: { jwt }, dpop,
  })
  dpop = nextDpop(retrieved)
  const { credentialResponse } = retrieved
  const notified = await client.sendNotification({
    issuerMetadata, accessToken, dpop,
    notification: { notificationId: credentialResponse.notification_id, event: 'credential_accepted' },
  })
  dpop = nextDpop(notified)
  results.push({
    configuration,
    format: issuerMetadata.credentialIssuer.credential_configurations_supported[configuration].format,
    credentials: credentialResponse.credentials.map((c) => c.credential),
    jwks,
  })
}
process.stdout.write(JSON.stringify({ results, tokenType: accessTokenResponse.token_type }))
