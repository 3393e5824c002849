// A third-party OID4VP wallet for TrustID's interop test: Animo's
// @openid4vc/openid4vp (oid4vc-ts) parses and resolves the request,
// checks the signed request object through our verifyJwt callback, and
// creates and submits the (encrypted) authorization response. The
// SD-JWT presentation and its KB-JWT are made here with `jose`.
//
// Input (stdin, JSON): link, attester, attesterJwks, credential (an
// SD-JWT VC with all disclosures), holderJwk (private, ES256), and
// tamper ("" or "nonce" / "aud": present for another nonce or audience;
// "td": leave out the transaction data hashes). The transaction data the
// library resolved for the presented query are hashed into the KB-JWT
// (transaction_data_hashes, OID4VP 1.0 Appendix B.3.3).
// Output (stdout, JSON): {status, body, clientId, responseMode}.
import { createHash, randomBytes } from 'node:crypto';
import * as jose from 'jose';
import { Openid4vpClient } from '@openid4vc/openid4vp';

const input = JSON.parse(await new Promise((res) => {
  let s = '';
  process.stdin.on('data', (d) => (s += d));
  process.stdin.on('end', () => res(s));
}));

const b64u = (buf) => Buffer.from(buf).toString('base64url');
const attesterKeys = jose.createLocalJWKSet(JSON.parse(input.attesterJwks));

// verifyJwt checks the request object: the Verifier Attestation JWT in its
// jwt header must be signed by the trusted attester, name the client, and
// bind (cnf.jwk) the key that signed the request object.
async function verifyJwt(signer, { header, payload, compact }) {
  if (header.typ !== 'oauth-authz-req+jwt' || typeof header.jwt !== 'string') return { verified: false };
  const att = await jose.jwtVerify(header.jwt, attesterKeys, { typ: 'verifier-attestation+jwt', issuer: input.attester });
  if (`verifier_attestation:${att.payload.sub}` !== payload.client_id) return { verified: false };
  const uris = att.payload.redirect_uris;
  if (Array.isArray(uris) && !uris.includes(payload.response_uri)) return { verified: false };
  const key = await jose.importJWK(att.payload.cnf.jwk, header.alg);
  await jose.compactVerify(compact, key);
  return { verified: true, signerJwk: att.payload.cnf.jwk };
}

async function encryptJwe(encryptor, data) {
  const key = await jose.importJWK(encryptor.publicJwk, 'ECDH-ES');
  // OID4VP 1.0 final uses no apu/apv (the library passes the nonce for
  // older drafts' JARM).
  const hdr = { alg: 'ECDH-ES', enc: encryptor.enc, kid: encryptor.publicJwk.kid };
  const jwe = await new jose.CompactEncrypt(new TextEncoder().encode(data)).setProtectedHeader(hdr).encrypt(key);
  return { jwe, encryptionJwk: encryptor.publicJwk };
}

const client = new Openid4vpClient({
  callbacks: {
    verifyJwt,
    encryptJwe,
    hash: (data, alg) => new Uint8Array(createHash(alg.replace('-', '').toLowerCase()).update(data).digest()),
    generateRandom: (n) => new Uint8Array(randomBytes(n)),
    signJwt: () => { throw new Error('the wallet signs nothing but the KB-JWT'); },
    decryptJwe: () => { throw new Error('no encrypted requests'); },
    fetch,
  },
});

const parsed = client.parseOpenid4vpAuthorizationRequest({ authorizationRequest: input.link });
const resolved = await client.resolveOpenId4vpAuthorizationRequest({ authorizationRequestPayload: parsed.params });
const req = resolved.authorizationRequestPayload;
const query = resolved.dcql.query;

// Present the credential for the first credential query, disclosing only
// the top-level claims its claim paths name.
const cq = query.credentials[0];
const wanted = new Set((cq.claims ?? []).map((c) => c.path[0]));
const [jwt, ...rest] = input.credential.split('~');
const disclosures = rest.filter((d) => d !== '').filter((d) => {
  const arr = JSON.parse(Buffer.from(d, 'base64url').toString());
  return arr.length === 3 && wanted.has(arr[1]);
});
const presentation = [jwt, ...disclosures].join('~') + '~';
const holderKey = await jose.importJWK(input.holderJwk, 'ES256');
const td = (resolved.transactionData ?? []).filter((e) => e.transactionData.credential_ids.includes(cq.id));
const tdClaims = td.length && input.tamper !== 'td' ? {
  transaction_data_hashes: td.map((e) => b64u(createHash('sha256').update(e.encoded).digest())),
  ...(td.some((e) => e.transactionData.transaction_data_hashes_alg) ? { transaction_data_hashes_alg: 'sha-256' } : {}),
} : {};
const kb = await new jose.SignJWT({
  ...tdClaims,
  nonce: input.tamper === 'nonce' ? 'not-the-nonce' : req.nonce,
  aud: input.tamper === 'aud' ? 'verifier_attestation:someone-else' : req.client_id,
  sd_hash: b64u(createHash('sha256').update(presentation).digest()),
}).setProtectedHeader({ alg: 'ES256', typ: 'kb+jwt' }).setIssuedAt().sign(holderKey);

const encrypted = req.response_mode === 'direct_post.jwt';
const response = await client.createOpenid4vpAuthorizationResponse({
  authorizationRequestPayload: req,
  authorizationResponsePayload: { vp_token: { [cq.id]: [presentation + kb] } },
  jarm: encrypted ? {
    encryption: { nonce: req.nonce },
    serverMetadata: {
      authorization_signing_alg_values_supported: ['ES256'],
      authorization_encryption_alg_values_supported: ['ECDH-ES'],
      authorization_encryption_enc_values_supported: ['A128GCM', 'A256GCM'],
    },
  } : undefined,
});
const submitted = await client.submitOpenid4vpAuthorizationResponse({
  authorizationRequestPayload: req,
  authorizationResponsePayload: response.authorizationResponsePayload,
  jarm: response.jarm ? { responseJwt: response.jarm.responseJwt } : undefined,
});
const body = await submitted.response.text();
process.stdout.write(JSON.stringify({ status: submitted.response.status, body, clientId: req.client_id, responseMode: submitted.responseMode,
  transactionData: td.map((e) => e.transactionData) }));
