// Interop with @auth0/cose (an independent COSE library) for the
// credentials/cose test TestInteropNPM. Reads one JSON request on stdin:
//   { alg: "ES256"|"EdDSA", jwk: private JWK, kid, payload: base64,
//     goCose: base64 COSE_Sign1 made by credentials/cose }
// signs payload as a vc+cose COSE_Sign1 with jwk, verifies goCose with
// the public part of jwk, and writes { signed: base64, goPayload: base64 }.
import { Sign1 } from '@auth0/cose';
import { importJWK } from 'jose';

const algs = { ES256: -7, EdDSA: -8 };
let input = '';
for await (const chunk of process.stdin) input += chunk;
const req = JSON.parse(input);
const alg = algs[req.alg];
const priv = await importJWK(req.jwk, req.alg);
const { d, ...pubJwk } = req.jwk;
const pub = await importJWK(pubJwk, req.alg);

const protectedHeaders = new Map([
  [1, alg],
  [3, 'application/vc'],
  [4, new TextEncoder().encode(req.kid)],
  [16, 'application/vc+cose'],
]);
const signed = await Sign1.sign(protectedHeaders, new Map(), Buffer.from(req.payload, 'base64'), priv);

const goMsg = Sign1.decode(Buffer.from(req.goCose, 'base64'));
await goMsg.verify(pub, { algorithms: [alg] });

process.stdout.write(JSON.stringify({
  signed: Buffer.from(signed.encode()).toString('base64'),
  goPayload: Buffer.from(goMsg.payload).toString('base64'),
}));
