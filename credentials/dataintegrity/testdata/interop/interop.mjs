// The third-party side of TestDigitalBazaarInterop (credentials/dataintegrity):
// Digital Bazaar's @digitalbazaar/vc with its eddsa-rdfc-2022 and
// ecdsa-rdfc-2019 cryptosuites.
//
//   node interop.mjs sign eddsa|ecdsa   prints a credential it signed
//   node interop.mjs add eddsa|ecdsa    adds a proof by a new did:key to the
//                                       credential on stdin (a proof set)
//   node interop.mjs verify [cosigned]  verifies the credential on stdin;
//                                       exits 0 only when every proof
//                                       verifies; cosigned: each proof's
//                                       method need only be an
//                                       assertionMethod of its own
//                                       controller (@digitalbazaar/vc
//                                       otherwise wants every proof by
//                                       the issuer)
//
// Its document loader serves TrustID's bundled contexts (the same bytes the
// Go side uses) and did:key documents built from the key itself: nothing is
// fetched.
import {readFileSync} from 'node:fs';
import {fileURLToPath} from 'node:url';
import path from 'node:path';
import * as vc from '@digitalbazaar/vc';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import * as Ed25519Multikey from '@digitalbazaar/ed25519-multikey';
import * as EcdsaMultikey from '@digitalbazaar/ecdsa-multikey';
import {cryptosuite as eddsaRdfc2022} from '@digitalbazaar/eddsa-rdfc-2022-cryptosuite';
import {cryptosuite as ecdsaRdfc2019} from '@digitalbazaar/ecdsa-rdfc-2019-cryptosuite';

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'contexts');
const contexts = {
  'https://www.w3.org/ns/credentials/v2': 'credentials-v2.jsonld',
  'https://www.w3.org/ns/credentials/examples/v2': 'credentials-examples-v2.jsonld',
  'https://w3id.org/security/data-integrity/v2': 'data-integrity-v2.jsonld',
  'https://w3id.org/security/multikey/v1': 'multikey-v1.jsonld',
};
const DID_V1 = 'https://www.w3.org/ns/did/v1';

async function documentLoader(url) {
  if(contexts[url]) {
    const document = JSON.parse(readFileSync(path.join(dir, contexts[url]), 'utf8'));
    return {contextUrl: null, documentUrl: url, document};
  }
  if(url.startsWith('did:key:')) {
    const [did] = url.split('#');
    const mk = did.slice('did:key:'.length);
    const vmId = `${did}#${mk}`;
    const vm = {
      '@context': 'https://w3id.org/security/multikey/v1',
      id: vmId, type: 'Multikey', controller: did, publicKeyMultibase: mk
    };
    if(url.includes('#')) {
      return {contextUrl: null, documentUrl: url, document: vm};
    }
    const document = {
      '@context': [DID_V1, 'https://w3id.org/security/multikey/v1'],
      id: did, verificationMethod: [vm],
      assertionMethod: [vmId], authentication: [vmId]
    };
    return {contextUrl: null, documentUrl: url, document};
  }
  throw new Error(`refusing to load ${url}`);
}

function credential(issuer) {
  return {
    '@context': [
      'https://www.w3.org/ns/credentials/v2',
      'https://www.w3.org/ns/credentials/examples/v2'
    ],
    id: 'urn:uuid:3f1f2c7e-5f8a-4a53-9a4e-0c8d1b2e7d10',
    type: ['VerifiableCredential', 'AlumniCredential'],
    name: 'Alumni Credential',
    issuer,
    validFrom: '2025-01-01T00:00:00Z',
    credentialSubject: {id: 'did:example:abcdefgh', alumniOf: 'The School of Examples'}
  };
}

async function sign(kind, input) {
  let keyPair, cryptosuite;
  if(kind === 'eddsa') {
    keyPair = await Ed25519Multikey.generate();
    cryptosuite = eddsaRdfc2022;
  } else if(kind === 'ecdsa') {
    keyPair = await EcdsaMultikey.generate({curve: 'P-256'});
    cryptosuite = ecdsaRdfc2019;
  } else {
    throw new Error(`unknown kind ${kind}`);
  }
  const did = `did:key:${keyPair.publicKeyMultibase}`;
  keyPair.controller = did;
  keyPair.id = `${did}#${keyPair.publicKeyMultibase}`;
  const suite = new DataIntegrityProof({signer: keyPair.signer(), cryptosuite});
  const signed = await vc.issue({credential: input || credential(did), suite, documentLoader});
  process.stdout.write(JSON.stringify(signed, null, 2) + '\n');
}

async function verify(cosigned) {
  const credential = JSON.parse(readFileSync(0, 'utf8'));
  const suite = [
    new DataIntegrityProof({cryptosuite: eddsaRdfc2022}),
    new DataIntegrityProof({cryptosuite: ecdsaRdfc2019})
  ];
  // AssertionProofPurpose, which CredentialIssuancePurpose extends with
  // its issuer check.
  const purpose = cosigned ? new (Object.getPrototypeOf(vc.CredentialIssuancePurpose))() : undefined;
  const result = await vc.verifyCredential({credential, suite, documentLoader, purpose});
  // jsonld-signatures calls a proof set verified when one proof is; Data
  // Integrity 1.0 (§4.5) asks that every proof be.
  const results = result.results || [];
  if(!result.verified || !results.every(r => r.verified)) {
    const errors = [...(result.error?.errors || (result.error ? [result.error] : [])),
      ...results.filter(r => !r.verified).map(r => r.error)].map(e => String(e?.message || e));
    process.stdout.write(JSON.stringify({verified: false, errors}) + '\n');
    process.exit(1);
  }
  process.stdout.write(JSON.stringify({verified: true, proofs: results.length}) + '\n');
}

const [mode, arg] = process.argv.slice(2);
try {
  if(mode === 'sign') {
    await sign(arg);
  } else if(mode === 'add') {
    await sign(arg, JSON.parse(readFileSync(0, 'utf8')));
  } else if(mode === 'verify') {
    await verify(arg === 'cosigned');
  } else {
    throw new Error('usage: interop.mjs sign|add eddsa|ecdsa | verify [cosigned]');
  }
} catch(e) {
  process.stderr.write(String(e?.stack || e) + '\n');
  process.exit(2);
}
