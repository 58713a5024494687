import { crc32, deflateSync } from 'node:zlib';

/**
 * A tiny raster canvas and PNG encoder for the demo seed: app icons and
 * screenshots drawn in code (flat shapes and a 5×7 bitmap font), so no image
 * files live in the repository. Output is a plain 8-bit RGB PNG.
 */
export type Rgb = readonly [number, number, number];

/** `#rrggbb` → [r, g, b]. */
export function hex(color: string): Rgb {
  const n = Number.parseInt(color.replace('#', ''), 16);
  return [(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
}

/** Mixes `color` towards white (amount > 0) or black (amount < 0), amount in -1..1. */
export function shade(color: Rgb, amount: number): Rgb {
  const target = amount >= 0 ? 255 : 0;
  const a = Math.abs(amount);
  return color.map((c) => Math.round(c + (target - c) * a)) as unknown as Rgb;
}

// 5×7 glyphs, one string of five bits per row.
const GLYPHS: Record<string, string[]> = {
  A: ['01110', '10001', '10001', '11111', '10001', '10001', '10001'],
  B: ['11110', '10001', '10001', '11110', '10001', '10001', '11110'],
  C: ['01110', '10001', '10000', '10000', '10000', '10001', '01110'],
  D: ['11100', '10010', '10001', '10001', '10001', '10010', '11100'],
  E: ['11111', '10000', '10000', '11110', '10000', '10000', '11111'],
  F: ['11111', '10000', '10000', '11110', '10000', '10000', '10000'],
  G: ['01110', '10001', '10000', '10111', '10001', '10001', '01111'],
  H: ['10001', '10001', '10001', '11111', '10001', '10001', '10001'],
  I: ['01110', '00100', '00100', '00100', '00100', '00100', '01110'],
  J: ['00111', '00010', '00010', '00010', '00010', '10010', '01100'],
  K: ['10001', '10010', '10100', '11000', '10100', '10010', '10001'],
  L: ['10000', '10000', '10000', '10000', '10000', '10000', '11111'],
  M: ['10001', '11011', '10101', '10101', '10001', '10001', '10001'],
  N: ['10001', '10001', '11001', '10101', '10011', '10001', '10001'],
  O: ['01110', '10001', '10001', '10001', '10001', '10001', '01110'],
  P: ['11110', '10001', '10001', '11110', '10000', '10000', '10000'],
  Q: ['01110', '10001', '10001', '10001', '10101', '10010', '01101'],
  R: ['11110', '10001', '10001', '11110', '10100', '10010', '10001'],
  S: ['01111', '10000', '10000', '01110', '00001', '00001', '11110'],
  T: ['11111', '00100', '00100', '00100', '00100', '00100', '00100'],
  U: ['10001', '10001', '10001', '10001', '10001', '10001', '01110'],
  V: ['10001', '10001', '10001', '10001', '10001', '01010', '00100'],
  W: ['10001', '10001', '10001', '10101', '10101', '10101', '01010'],
  X: ['10001', '10001', '01010', '00100', '01010', '10001', '10001'],
  Y: ['10001', '10001', '10001', '01010', '00100', '00100', '00100'],
  Z: ['11111', '00001', '00010', '00100', '01000', '10000', '11111'],
  '0': ['01110', '10001', '10011', '10101', '11001', '10001', '01110'],
  '1': ['00100', '01100', '00100', '00100', '00100', '00100', '01110'],
  '2': ['01110', '10001', '00001', '00010', '00100', '01000', '11111'],
  '3': ['11111', '00010', '00100', '00010', '00001', '10001', '01110'],
  '4': ['00010', '00110', '01010', '10010', '11111', '00010', '00010'],
  '5': ['11111', '10000', '11110', '00001', '00001', '10001', '01110'],
  '6': ['00110', '01000', '10000', '11110', '10001', '10001', '01110'],
  '7': ['11111', '00001', '00010', '00100', '01000', '01000', '01000'],
  '8': ['01110', '10001', '10001', '01110', '10001', '10001', '01110'],
  '9': ['01110', '10001', '10001', '01111', '00001', '00010', '01100'],
  '-': ['00000', '00000', '00000', '11111', '00000', '00000', '00000'],
  '.': ['00000', '00000', '00000', '00000', '00000', '01100', '01100'],
  ':': ['00000', '01100', '01100', '00000', '01100', '01100', '00000'],
  '%': ['11000', '11001', '00010', '00100', '01000', '10011', '00011'],
  '/': ['00000', '00001', '00010', '00100', '01000', '10000', '00000'],
  ' ': ['00000', '00000', '00000', '00000', '00000', '00000', '00000'],
};

export class Canvas {
  readonly width: number;
  readonly height: number;
  /** RGB, row by row. */
  readonly pixels: Uint8Array;

  constructor(width: number, height: number, background: Rgb) {
    this.width = width;
    this.height = height;
    this.pixels = new Uint8Array(width * height * 3);
    this.rect(0, 0, width, height, background);
  }

  /** A filled rectangle, clipped to the canvas; `radius` rounds its corners. */
  rect(x: number, y: number, w: number, h: number, color: Rgb, radius = 0): this {
    const y0 = Math.max(0, Math.round(y));
    const y1 = Math.min(this.height, Math.round(y + h));
    const r = Math.min(radius, w / 2, h / 2);
    for (let py = y0; py < y1; py++) {
      // Row by row: a rounded corner narrows the span by the circle's inset at this height.
      const dy = py + 0.5 < y + r ? y + r - py - 0.5 : py + 0.5 > y + h - r ? py + 0.5 - (y + h - r) : 0;
      const inset = dy > 0 ? r - Math.sqrt(Math.max(0, r * r - dy * dy)) : 0;
      const x0 = Math.max(0, Math.round(x + inset));
      const x1 = Math.min(this.width, Math.round(x + w - inset));
      if (x1 <= x0) continue;
      const start = (py * this.width + x0) * 3;
      this.pixels[start] = color[0];
      this.pixels[start + 1] = color[1];
      this.pixels[start + 2] = color[2];
      // Double the filled part until the span is full.
      const end = (py * this.width + x1) * 3;
      for (let filled = 3; start + filled < end; filled *= 2)
        this.pixels.copyWithin(start + filled, start, Math.min(start + filled, end - filled));
    }
    return this;
  }

  circle(cx: number, cy: number, radius: number, color: Rgb): this {
    return this.rect(cx - radius, cy - radius, radius * 2, radius * 2, color, radius);
  }

  /** Text in the 5×7 font (upper case; unknown characters are blank), each font pixel `scale` wide. */
  text(s: string, x: number, y: number, scale: number, color: Rgb): this {
    let cx = x;
    for (const ch of s.toUpperCase()) {
      const glyph = GLYPHS[ch] ?? GLYPHS[' '];
      glyph.forEach((row, gy) => {
        for (let gx = 0; gx < 5; gx++)
          if (row[gx] === '1') this.rect(cx + gx * scale, y + gy * scale, scale, scale, color);
      });
      cx += 6 * scale;
    }
    return this;
  }

  /** Width in pixels of `s` drawn at `scale`. */
  static textWidth(s: string, scale: number): number {
    return s.length ? (s.length * 6 - 1) * scale : 0;
  }

  toPng(): Buffer {
    return encodePng(this.width, this.height, this.pixels);
  }
}

function chunk(type: string, data: Buffer): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/** An 8-bit RGB PNG of `pixels` (width × height × 3 bytes). */
export function encodePng(width: number, height: number, pixels: Uint8Array): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type: RGB
  // ihdr[10..12]: deflate, adaptive filtering, no interlace
  const stride = width * 3;
  const raw = Buffer.alloc((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (stride + 1)] = 0; // filter: none
    raw.set(pixels.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
