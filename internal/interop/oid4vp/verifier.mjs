// A third-party OID4VP verifier for TrustID's interop test: Animo's
// @openid4vc/openid4vp (Openid4vpVerifier) creates a signed request object
// by reference under verifier_attestation:<rp> (the attestation and the
// signatures are made here with `jose`), serves it over HTTPS, and parses,
// decrypts and validates the wallet's response against its DCQL query.
//
// Input (stdin, JSON): attesterJwk (private ES256 JWK with kid), attester
// (iss), mode, vct, tlsCert, tlsKey (PEM), and optionally transactionData
// (objects the request carries base64url-encoded as transaction_data).
// Output (stdout): one JSON line {"link": ...} once serving, then one
// {"vpToken": ..., "nonce", "clientId", "state", "transactionData"} once
// a response validated (transactionData: what the library's
// verifyTransactionData matched), {"walletError": ...} for a wallet's
// error response, or {"error": ...}.
import { createServer } from 'node:https';
import { createHash, randomBytes, generateKeyPairSync } from 'node:crypto';
import * as jose from 'jose';
import { Openid4vpVerifier } from '@openid4vc/openid4vp';

const input = JSON.parse(await new Promise((res) => {
  let s = '';
  process.stdin.on('data', (d) => (s += d));
  process.stdin.on('end', () => res(s));
}));
const say = (o) => process.stdout.write(JSON.stringify(o) + '\n');

const signKey = await jose.importJWK(input.attesterJwk, 'ES256');
const { d, ...signPub } = input.attesterJwk;
const enc = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const encPub = { ...enc.publicKey.export({ format: 'jwk' }), kid: 'enc-1', use: 'enc', alg: 'ECDH-ES' };

const server = createServer({ cert: input.tlsCert, key: input.tlsKey });
await new Promise((res) => server.listen(0, '127.0.0.1', res));
const base = `https://127.0.0.1:${server.address().port}`;
const rp = 'their-rp';
const clientId = `verifier_attestation:${rp}`;
const responseUri = `${base}/response`;
const attestation = await new jose.SignJWT({ sub: rp, cnf: { jwk: signPub }, redirect_uris: [responseUri] })
  .setProtectedHeader({ alg: 'ES256', typ: 'verifier-attestation+jwt', kid: input.attesterJwk.kid })
  .setIssuer(input.attester).setIssuedAt().setExpirationTime('5m').sign(signKey);

const callbacks = {
  signJwt: async (signer, { header, payload }) => {
    const jwt = await new jose.SignJWT(payload).setProtectedHeader({ ...header, alg: 'ES256', jwt: attestation }).sign(signKey);
    return { jwt, signerJwk: signPub };
  },
  decryptJwe: async (jwe) => {
    const { plaintext } = await jose.compactDecrypt(jwe, enc.privateKey);
    return { decrypted: true, payload: new TextDecoder().decode(plaintext), decryptionJwk: encPub };
  },
  verifyJwt: () => ({ verified: false }),
  encryptJwe: () => { throw new Error('unused'); },
  hash: (data, alg) => new Uint8Array(createHash(alg.replace('-', '').toLowerCase()).update(data).digest()),
  generateRandom: (n) => new Uint8Array(randomBytes(n)),
};
const verifier = new Openid4vpVerifier({ callbacks });

const dcql = { credentials: [{ id: 'age', format: 'dc+sd-jwt', meta: { vct_values: [input.vct] },
  claims: [{ path: ['age_over_18'], values: [true] }] }] };
const nonce = randomBytes(16).toString('base64url');
const state = randomBytes(16).toString('base64url');
const transactionData = (input.transactionData ?? []).map((o) => Buffer.from(JSON.stringify(o)).toString('base64url'));
const created = await verifier.createOpenId4vpAuthorizationRequest({
  authorizationRequestPayload: {
    response_type: 'vp_token', client_id: clientId, response_mode: input.mode, response_uri: responseUri, nonce, state,
    dcql_query: dcql,
    ...(transactionData.length ? { transaction_data: transactionData } : {}),
    client_metadata: {
      vp_formats_supported: { 'dc+sd-jwt': { 'sd-jwt_alg_values': ['ES256', 'SM2'], 'kb-jwt_alg_values': ['ES256', 'SM2'] } },
      ...(input.mode === 'direct_post.jwt' ? { jwks: { keys: [encPub] }, encrypted_response_enc_values_supported: ['A128GCM'] } : {}),
    },
  },
  jar: { requestUri: `${base}/request`, jwtSigner: { method: 'custom', alg: 'ES256', kid: input.attesterJwk.kid }, expiresInSeconds: 300,
    additionalJwtPayload: { aud: 'https://self-issued.me/v2' } },
});

server.on('request', async (req, res) => {
  try {
    if (req.method === 'GET' && req.url === '/request') {
      res.writeHead(200, { 'content-type': 'application/oauth-authz-req+jwt' });
      res.end(created.jar.authorizationRequestJwt);
      return;
    }
    let body = '';
    for await (const chunk of req) body += chunk;
    const params = Object.fromEntries(new URLSearchParams(body));
    if (params.error) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
      say({ walletError: params.error });
      server.close();
      return;
    }
    const parsed = await verifier.parseOpenid4vpAuthorizationResponse({
      authorizationResponse: params, authorizationRequestPayload: created.authorizationRequestPayload,
      // Openid4vpVerifier.parseOpenid4vpAuthorizationResponse (0.4.6) does
      // not pass its own callbacks on: give them here.
      callbacks,
    });
    if (parsed.type !== 'dcql') throw new Error(`response type ${parsed.type}`);
    let matched = [];
    if (transactionData.length) {
      // The hashes each presentation's KB-JWT carries, for the library's
      // own check of every transaction data entry.
      const credentials = {};
      for (const [id, list] of Object.entries(parsed.dcql.presentations)) {
        credentials[id] = list.map((p) => {
          const kb = jose.decodeJwt(p.slice(p.lastIndexOf('~') + 1));
          return { transaction_data_hashes: kb.transaction_data_hashes, transaction_data_hashes_alg: kb.transaction_data_hashes_alg };
        });
      }
      const verified = await verifier.verifyTransactionData({ transactionData, credentials });
      matched = verified.map((v) => ({ credentialId: v.credentialId, hash: v.presentations[0].hash }));
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{}');
    say({ vpToken: parsed.dcql.presentations, nonce, clientId, state: parsed.authorizationResponsePayload.state ?? parsed.jarm?.jarmAuthorizationResponse?.state,
      transactionData: matched });
  } catch (e) {
    res.writeHead(400, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'invalid_request', error_description: String(e.message ?? e) }));
    say({ error: String(e.message ?? e) });
  }
  server.close();
});
say({ link: created.authorizationRequest });
