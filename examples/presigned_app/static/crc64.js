// CRC-64/XZ (the CRC-64 COS and OSS answer in x-cos-hash-crc64ecma / x-oss-hash-crc64ecma): reflected polynomial
// 0xC96C5795D7870F42, initial value and final xor all ones; check value of "123456789" is 11051210869376104954.
// The 64-bit register is kept as two unsigned 32-bit halves (fast in any engine); the result is decimal text, as
// the services write it (JavaScript's numbers cannot hold 64 bits).
const POLY_HI = 0xC96C5795, POLY_LO = 0xD7870F42;
const TABLE_HI = new Uint32Array(256), TABLE_LO = new Uint32Array(256);
for (let i = 0; i < 256; i++) {
  let hi = 0, lo = i;
  for (let bit = 0; bit < 8; bit++) {
    const odd = lo & 1;
    lo = ((lo >>> 1) | ((hi & 1) << 31)) >>> 0;
    hi = hi >>> 1;
    if (odd) { hi = (hi ^ POLY_HI) >>> 0; lo = (lo ^ POLY_LO) >>> 0; }
  }
  TABLE_HI[i] = hi; TABLE_LO[i] = lo;
}

export class Crc64 {
  constructor() { this.hi = 0xFFFFFFFF; this.lo = 0xFFFFFFFF; }
  update(bytes) {
    let hi = this.hi, lo = this.lo;
    for (let i = 0; i < bytes.length; i++) {
      const index = (lo ^ bytes[i]) & 0xFF;
      lo = (((lo >>> 8) | (hi << 24)) ^ TABLE_LO[index]) >>> 0;
      hi = ((hi >>> 8) ^ TABLE_HI[index]) >>> 0;
    }
    this.hi = hi; this.lo = lo;
    return this;
  }
  decimal() {
    const hi = BigInt((~this.hi) >>> 0), lo = BigInt((~this.lo) >>> 0);
    return ((hi << 32n) | lo).toString();
  }
}

export function crc64(bytes) { return new Crc64().update(bytes).decimal(); }
