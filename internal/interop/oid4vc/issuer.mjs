// A third-party OID4VCI 1.0 issuer built from Animo's @openid4vc/openid4vci
// and @openid4vc/oauth2 (the library offers the protocol steps, not a
// server: this file is the HTTP glue). TrustID's interop test
// (TestOID4VCIInteropAnimoIssuer) runs it and points the wallet SDK at it.
// It listens on 127.0.0.1, makes one offer (pre-authorized code with a
// 4-digit transaction code) and prints one JSON line:
// {"offer": "openid-credential-offer://...", "tx_code": "...", "issuer_jwk": {...}}.
// Credentials are SD-JWT VCs (no disclosures) bound to the proof's key.
import { createHash, generateKeyPairSync, randomBytes, sign, verify, createPublicKey } from 'node:crypto'
import { createServer } from 'node:http'
import { Openid4vciIssuer } from '@openid4vc/openid4vci'
import { Oauth2AuthorizationServer, preAuthorizedCodeGrantIdentifier } from '@openid4vc/oauth2'
import { setGlobalConfig } from '@openid4vc/utils'
import { verifySM2 } from './sm2.mjs'

setGlobalConfig({ allowInsecureUrls: true })

const b64u = (b) => Buffer.from(b).toString('base64url')
const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const pub = publicKey.export({ format: 'jwk' })
const issuerJwk = { kty: pub.kty, crv: pub.crv, x: pub.x, y: pub.y }

function signES256(header, payload) {
  const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(payload))}`
  return `${input}.${b64u(sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' }))}`
}

const callbacks = {
  hash: (data, alg) => createHash(alg.replace('-', '').toLowerCase()).update(data).digest(),
  generateRandom: (n) => randomBytes(n),
  clientAuthentication: () => {},
  signJwt: async (signer, { header, payload }) => ({ jwt: signES256(header, payload), signerJwk: issuerJwk }),
  verifyJwt: async (signer, { compact }) => {
    if (signer.method !== 'jwk') return { verified: false }
    const [h, p, s] = compact.split('.')
    const data = Buffer.from(`${h}.${p}`)
    const sig = Buffer.from(s, 'base64url')
    let ok = false
    if (signer.alg === 'SM2') ok = verifySM2(signer.publicJwk, data, sig)
    else if (signer.alg === 'ES256') ok = verify('sha256', data, { key: createPublicKey({ key: signer.publicJwk, format: 'jwk' }), dsaEncoding: 'ieee-p1363' }, sig)
    return ok ? { verified: true, signerJwk: signer.publicJwk } : { verified: false }
  },
}
const issuer = new Openid4vciIssuer({ callbacks })
const as = new Oauth2AuthorizationServer({ callbacks })

const server = createServer()
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
const base = `http://127.0.0.1:${server.address().port}`
const vct = 'https://interop.example/credentials/residence'
const credentialIssuer = issuer.createCredentialIssuerMetadata({
  credential_issuer: base,
  credential_endpoint: `${base}/credential`,
  nonce_endpoint: `${base}/nonce`,
  notification_endpoint: `${base}/notification`,
  batch_credential_issuance: { batch_size: 5 },
  display: [{ name: 'Animo interop issuer', locale: 'en' }],
  credential_configurations_supported: {
    residence_sd_jwt: {
      format: 'dc+sd-jwt', vct,
      cryptographic_binding_methods_supported: ['jwk'],
      credential_signing_alg_values_supported: ['ES256'],
      proof_types_supported: { jwt: { proof_signing_alg_values_supported: ['SM2', 'ES256'] } },
    },
  },
})
const authorizationServerMetadata = as.createAuthorizationServerMetadata({
  issuer: base, token_endpoint: `${base}/token`, 'pre-authorized_grant_anonymous_access_supported': true,
})
const issuerMetadata = {
  originalDraftVersion: 'v1', credentialIssuer, authorizationServers: [authorizationServerMetadata],
  knownCredentialConfigurations: issuer.getKnownCredentialConfigurationsSupported(credentialIssuer),
}

const preAuthorizedCode = b64u(randomBytes(32))
const txCode = String(randomBytes(2).readUInt16BE() % 10000).padStart(4, '0')
let accessToken, nonce, nonceExpiresAt
const notifications = new Set()

async function handle(req, body) {
  const url = `${base}${req.url}`
  const request = { method: req.method, url, headers: new Headers(req.headers) }
  switch (`${req.method} ${req.url}`) {
    case 'GET /.well-known/openid-credential-issuer': return [200, credentialIssuer]
    case 'GET /.well-known/oauth-authorization-server': return [200, authorizationServerMetadata]
    case 'POST /token': {
      const parsed = as.parseAccessTokenRequest({ request, accessTokenRequest: Object.fromEntries(new URLSearchParams(body)) })
      await as.verifyPreAuthorizedCodeAccessTokenRequest({
        grant: parsed.grant, accessTokenRequest: parsed.accessTokenRequest, request, authorizationServerMetadata,
        expectedPreAuthorizedCode: preAuthorizedCode, expectedTxCode: txCode,
      })
      const resp = await as.createAccessTokenResponse({
        signer: { method: 'jwk', alg: 'ES256', publicJwk: issuerJwk }, audience: base, authorizationServer: base,
        expiresInSeconds: 300, subject: 'holder',
      })
      accessToken = resp.access_token
      return [200, resp]
    }
    case 'POST /nonce':
      nonce = b64u(randomBytes(16))
      nonceExpiresAt = new Date(Date.now() + 300_000)
      return [200, issuer.createNonceResponse({ cNonce: nonce, cNonceExpiresIn: 300 })]
    case 'POST /credential': {
      if (!accessToken || req.headers.authorization !== `Bearer ${accessToken}`) return [401, { error: 'invalid_token' }]
      const credentialRequest = issuer.parseCredentialRequest({ issuerMetadata, credentialRequest: JSON.parse(body) })
      const credentials = []
      for (const jwt of credentialRequest.proofs?.jwt ?? []) {
        const { header } = await issuer.verifyCredentialRequestJwtProof({ issuerMetadata, jwt, expectedNonce: nonce, nonceExpiresAt })
        credentials.push({ credential: signES256({ alg: 'ES256', typ: 'dc+sd-jwt' },
          { iss: base, vct, iat: Math.floor(Date.now() / 1000), cnf: { jwk: header.jwk }, region: '310000' }) + '~' })
      }
      nonce = undefined // single use
      const notificationId = b64u(randomBytes(12))
      notifications.add(notificationId)
      return [200, issuer.createCredentialResponse({ credentialRequest, credentials, notificationId })]
    }
    case 'POST /notification': {
      if (req.headers.authorization !== `Bearer ${accessToken}`) return [401, { error: 'invalid_token' }]
      const n = JSON.parse(body)
      if (!notifications.delete(n.notification_id)) return [400, { error: 'invalid_notification_id' }]
      return [204, null]
    }
  }
  return [404, { error: 'not_found' }]
}

server.on('request', (req, res) => {
  let body = ''
  req.on('data', (c) => { body += c })
  req.on('end', async () => {
    let status, out
    try {
      [status, out] = await handle(req, body)
    } catch (e) {
      process.stderr.write(`${req.method} ${req.url}: ${e.stack}\n`)
      ;[status, out] = [400, { error: e.error ?? 'invalid_request', error_description: String(e.message).slice(0, 200) }]
    }
    res.writeHead(status, out === null ? {} : { 'Content-Type': 'application/json' })
    res.end(out === null ? undefined : JSON.stringify(out))
  })
})

const { credentialOffer } = await issuer.createCredentialOffer({
  issuerMetadata, credentialConfigurationIds: ['residence_sd_jwt'],
  grants: { [preAuthorizedCodeGrantIdentifier]: { 'pre-authorized_code': preAuthorizedCode, tx_code: { input_mode: 'numeric', length: 4 } } },
})
process.stdout.write(JSON.stringify({ offer: credentialOffer, tx_code: txCode, issuer_jwk: issuerJwk }) + '\n')
