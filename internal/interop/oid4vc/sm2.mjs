// SM2 signature verification (GB/T 32918.2, SM3 with Z_A for the default
// user ID 1234567812345678) in plain BigInt arithmetic: Node's crypto has
// SM3 but does not verify SM2 signatures. Used only to let the
// third-party issuer (issuer.mjs) check TrustID's wallet's SM2 key proofs.
import { createHash } from 'node:crypto'

const p = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFFn
const a = p - 3n
const b = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93n
const n = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123n
const G = [0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7n, 0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0n]

const mod = (x, m) => ((x % m) + m) % m
function inv(x, m) {
  let [r0, r1, s0, s1] = [mod(x, m), m, 1n, 0n]
  while (r1 !== 0n) { const q = r0 / r1;[r0, r1] = [r1, r0 - q * r1];[s0, s1] = [s1, s0 - q * s1] }
  return mod(s0, m)
}
function add(P, Q) {
  if (P === null) return Q
  if (Q === null) return P
  if (P[0] === Q[0] && mod(P[1] + Q[1], p) === 0n) return null
  const l = P[0] === Q[0] && P[1] === Q[1]
    ? mod((3n * P[0] * P[0] + a) * inv(2n * P[1], p), p)
    : mod((Q[1] - P[1]) * inv(Q[0] - P[0], p), p)
  const x = mod(l * l - P[0] - Q[0], p)
  return [x, mod(l * (P[0] - x) - P[1], p)]
}
function mul(k, P) {
  let R = null
  for (let Q = P; k > 0n; k >>= 1n, Q = add(Q, Q)) if (k & 1n) R = add(R, Q)
  return R
}
const big = (buf) => BigInt('0x' + (Buffer.from(buf).toString('hex') || '0'))
const bytes32 = (x) => Buffer.from(x.toString(16).padStart(64, '0'), 'hex')

// verifySM2 checks a JWS signature (raw r‖s) over data with an SM2 public JWK.
export function verifySM2(jwk, data, sig) {
  if (jwk.kty !== 'EC' || jwk.crv !== 'SM2' || sig.length !== 64) return false
  const P = [big(Buffer.from(jwk.x, 'base64url')), big(Buffer.from(jwk.y, 'base64url'))]
  if (mod(P[1] * P[1] - (P[0] * P[0] * P[0] + a * P[0] + b), p) !== 0n) return false
  const id = Buffer.from('1234567812345678')
  const za = createHash('sm3').update(Buffer.concat([Buffer.from([0, id.length * 8]), id, bytes32(a), bytes32(b),
    bytes32(G[0]), bytes32(G[1]), bytes32(P[0]), bytes32(P[1])])).digest()
  const e = big(createHash('sm3').update(Buffer.concat([za, Buffer.from(data)])).digest())
  const r = big(sig.subarray(0, 32)), s = big(sig.subarray(32))
  if (r < 1n || r >= n || s < 1n || s >= n) return false
  const t = mod(r + s, n)
  if (t === 0n) return false
  const X = add(mul(s, G), mul(t, P))
  return X !== null && mod(e + X[0], n) === r
}
