// The third-party side of credentials/jsonld's RDFC-1.0 differential test
// (TestRDFCMatchesRDFCanonize): Digital Bazaar's rdf-canonize, the version
// package-lock.json installs (a dependency of jsonld-signatures).
//
//   node rdfc.mjs   reads a JSON array of N-Quads documents on stdin and
//                   prints a JSON array with, for each, {"nquads": ...}
//                   (its RDFC-1.0 canonical form) or {"error": ...}
//
// The work limit is lifted (maxWorkFactor Infinity): the test's datasets
// are small, and TrustID's own limit is tested on its own.
import {readFileSync} from 'node:fs';
import rdfCanonize from 'rdf-canonize';

const inputs = JSON.parse(readFileSync(0, 'utf8'));
const out = [];
for(const nquads of inputs) {
  try {
    out.push({nquads: await rdfCanonize.canonize(nquads, {
      algorithm: 'RDFC-1.0',
      inputFormat: 'application/n-quads',
      format: 'application/n-quads',
      maxWorkFactor: Infinity
    })});
  } catch(e) {
    out.push({error: String(e && e.message)});
  }
}
process.stdout.write(JSON.stringify(out));
