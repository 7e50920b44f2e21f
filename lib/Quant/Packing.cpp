//===- Packing.cpp - Bit packing and half-precision conversion -----------===//

#include "qopt/Quant/Quant.h"

#include <cmath>
#include <cstring>

namespace qopt::quant {

int64_t packedRowBytes(int64_t codes, unsigned bits) {
  int64_t bytes = (codes * bits + 7) / 8;
  if (8 % bits != 0)
    ++bytes;
  return bytes;
}

void packCodes(const int32_t *codes, int64_t count, unsigned bits,
               uint8_t *row) {
  uint32_t mask = (1u << bits) - 1;
  for (int64_t i = 0; i < count; ++i) {
    int64_t bit = i * bits;
    uint32_t v = (uint32_t(codes[i]) & mask) << (bit % 8);
    row[bit / 8] |= uint8_t(v);
    if ((bit % 8) + bits > 8)
      row[bit / 8 + 1] |= uint8_t(v >> 8);
  }
}

int32_t unpackCode(const uint8_t *row, int64_t i, unsigned bits,
                   bool isSigned) {
  int64_t bit = i * bits;
  uint32_t word = row[bit / 8];
  if ((bit % 8) + bits > 8)
    word |= uint32_t(row[bit / 8 + 1]) << 8;
  uint32_t v = (word >> (bit % 8)) & ((1u << bits) - 1);
  if (isSigned && (v >> (bits - 1)))
    return int32_t(v) - (1 << bits);
  return int32_t(v);
}

uint16_t floatToHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000;
  uint32_t exp = (x >> 23) & 0xff;
  uint32_t mant = x & 0x7fffff;
  if (exp == 0xff) // inf / nan
    return uint16_t(sign | 0x7c00 | (mant ? 0x200 : 0));
  int32_t e = int32_t(exp) - 127 + 15;
  if (e >= 31)
    return uint16_t(sign | 0x7c00);
  if (e <= 0) {
    if (e < -10)
      return uint16_t(sign);
    mant |= 0x800000;
    uint32_t shift = uint32_t(14 - e);
    uint32_t h = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1);
    uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1)))
      ++h;
    return uint16_t(sign | h);
  }
  uint32_t h = (uint32_t(e) << 10) | (mant >> 13);
  uint32_t rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (h & 1)))
    ++h; // may carry into the exponent, which is the right rounding
  return uint16_t(sign | h);
}

float halfToFloat(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  uint32_t x;
  if (exp == 0) {
    if (mant == 0) {
      x = sign;
    } else {
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while (!(mant & 0x400));
      x = sign | (uint32_t(127 - 15 - e) << 23) | ((mant & 0x3ff) << 13);
    }
  } else if (exp == 31) {
    x = sign | 0x7f800000 | (mant << 13);
  } else {
    x = sign | ((exp - 15 + 127) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

float fp8E4M3ToFloat(uint8_t b) {
  uint32_t sign = b >> 7, exp = (b >> 3) & 15, mant = b & 7;
  float v;
  if (exp == 0) {
    v = float(mant) * 0.001953125f; // mant * 2^-9
  } else {
    uint32_t bits = ((exp + 120) << 23) | (mant << 20);
    std::memcpy(&v, &bits, 4);
  }
  return sign ? -v : v;
}

uint8_t floatToFP8E4M3(float f) {
  uint8_t sign = std::signbit(f) ? 0x80 : 0;
  float a = std::fabs(f);
  if (!(a < 448.f)) // saturate (and NaN) to the largest finite value
    return sign | 0x7e;
  if (a < 0.015625f) { // below 2^-6: subnormal steps of 2^-9
    int m = int(std::nearbyint(a * 512.f));
    return sign | uint8_t(m); // m == 8 is the smallest normal, 0x08
  }
  int e;
  float frac = std::frexp(a, &e); // a = frac * 2^e, frac in [0.5, 1)
  // a = (1 + m/8) * 2^(e-1): m = (2 frac - 1) * 8, rounded to nearest even.
  int m = int(std::nearbyint((2.f * frac - 1.f) * 8.f));
  int exp = e - 1 + 7;
  if (m == 8) {
    m = 0;
    ++exp;
  }
  if (exp > 15 || (exp == 15 && m > 6))
    return sign | 0x7e;
  return sign | uint8_t(exp << 3) | uint8_t(m);
}

} // namespace qopt::quant
