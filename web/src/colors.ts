// Colour scales (d3's perceptual ones) as 256-entry lookup tables for fast canvas drawing.
import { interpolateBlues, interpolateRdBu, interpolateSinebow, rgb, schemeSet3 } from 'd3';

export type Lut = Uint8ClampedArray; // 256 × rgb

function lut(f: (t: number) => string): Lut {
  const out = new Uint8ClampedArray(256 * 3);
  for (let i = 0; i < 256; i++) {
    const c = rgb(f(i / 255));
    out[i * 3] = c.r;
    out[i * 3 + 1] = c.g;
    out[i * 3 + 2] = c.b;
  }
  return out;
}

/** Diverging: blue (< 0) – white – red (> 0). Index with (v / max + 1) / 2. */
export const DIVERGING = lut((t) => interpolateRdBu(1 - t));
/** Sequential white → dark blue, for probabilities. */
export const SEQUENTIAL = lut((t) => interpolateBlues(0.03 + 0.97 * t));
/** Cyclic, for angles. */
export const CYCLIC = lut((t) => interpolateSinebow(t));

export function lutCss(l: Lut, t: number): string {
  const i = Math.max(0, Math.min(255, Math.round(t * 255))) * 3;
  return `rgb(${l[i]},${l[i + 1]},${l[i + 2]})`;
}

/** Background colour of the i-th token chip (a light qualitative palette). */
export function tokenColor(i: number): string {
  return schemeSet3[i % schemeSet3.length];
}

export const ACCENT = '#d9480f';
export const SERIES = ['#1c7ed6', '#e8590c', '#2f9e44', '#ae3ec9', '#f08c00', '#0c8599'];
