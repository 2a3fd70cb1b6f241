// Training — the loss curves as a small self-contained SVG: train loss (thin, with a smoothed line over it)
// and validation loss (dots joined) against the step, with axes, ticks and labels.

export interface LossPoint {
  step: number;
  train?: number;
  val?: number;
}

const W = 720;
const H = 420;
const M = { left: 64, right: 24, top: 40, bottom: 52 };

/** "Nice" tick values covering [lo, hi]: steps of 1, 2 or 5 × 10ⁿ. */
export function niceTicks(lo: number, hi: number, count = 6): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((k) => k * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step)
    out.push(Number(v.toPrecision(12)));
  return out;
}

function fmt(v: number): string {
  if (v === 0) return '0';
  if (Math.abs(v) >= 10000) return `${Number((v / 1000).toPrecision(4))}k`;
  return String(Number(v.toPrecision(4)));
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Centred moving average over ±half points (shorter at the ends): follows the trend without lagging it. */
export function smooth(values: readonly number[], half: number): number[] {
  const prefix = [0];
  for (const v of values) prefix.push(prefix[prefix.length - 1] + v);
  return values.map((_, i) => {
    const lo = Math.max(0, i - half);
    const hi = Math.min(values.length, i + half + 1);
    return (prefix[hi] - prefix[lo]) / (hi - lo);
  });
}

/** At most `n` points: consecutive training points averaged in equal buckets (long runs stay a small file). */
function thin(points: LossPoint[], n: number): LossPoint[] {
  if (points.length <= n) return points;
  const out: LossPoint[] = [];
  const k = points.length / n;
  for (let b = 0; b < n; b++) {
    const from = Math.floor(b * k);
    const to = Math.max(from + 1, Math.floor((b + 1) * k));
    let s = 0;
    for (let i = from; i < to; i++) s += points[i].train!;
    out.push({ step: points[to - 1].step, train: s / (to - from) });
  }
  return out;
}

function range(values: number[], fallback: [number, number]): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return values.length ? [lo, hi] : fallback;
}

export function lossSvg(points: readonly LossPoint[], title = 'loss'): string {
  const train = thin(
    points.filter((p) => Number.isFinite(p.train)),
    1500,
  );
  const val = points.filter((p) => Number.isFinite(p.val));
  const all = [...train.map((p) => p.train!), ...val.map((p) => p.val!)];
  const [sLo, sHi] = range(
    points.map((p) => p.step),
    [0, 1],
  );
  const x0 = Math.min(0, sLo);
  const x1 = Math.max(1, sHi);
  let [y0, y1] = range(all, [0, 1]);
  if (y1 - y0 < 1e-6) {
    y0 -= 0.5;
    y1 += 0.5;
  }
  const pad = (y1 - y0) * 0.05;
  y0 = Math.max(0, y0 - pad);
  y1 += pad;
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const sx = (v: number) => M.left + ((v - x0) / (x1 - x0)) * pw;
  const sy = (v: number) => M.top + (1 - (v - y0) / (y1 - y0)) * ph;
  const path = (xs: number[], ys: number[]) =>
    xs.map((x, i) => `${i === 0 ? 'M' : 'L'}${sx(x).toFixed(1)},${sy(ys[i]).toFixed(1)}`).join('');
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>`,
  );
  // Grid, ticks and tick labels.
  for (const t of niceTicks(y0, y1)) {
    const y = sy(t).toFixed(1);
    parts.push(
      `<line x1="${M.left}" y1="${y}" x2="${W - M.right}" y2="${y}" stroke="#e5e5e5"/>`,
      `<text x="${M.left - 8}" y="${y}" text-anchor="end" dominant-baseline="middle">${fmt(t)}</text>`,
    );
  }
  for (const t of niceTicks(x0, x1)) {
    const x = sx(t).toFixed(1);
    parts.push(
      `<line x1="${x}" y1="${M.top}" x2="${x}" y2="${H - M.bottom}" stroke="#f0f0f0"/>`,
      `<text x="${x}" y="${H - M.bottom + 18}" text-anchor="middle">${fmt(t)}</text>`,
    );
  }
  // Axes and their labels.
  parts.push(
    `<line x1="${M.left}" y1="${H - M.bottom}" x2="${W - M.right}" y2="${H - M.bottom}" stroke="black"/>`,
    `<line x1="${M.left}" y1="${M.top}" x2="${M.left}" y2="${H - M.bottom}" stroke="black"/>`,
    `<text x="${M.left + pw / 2}" y="${H - 12}" text-anchor="middle">step</text>`,
    `<text transform="translate(16 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle">cross-entropy loss (nats/token)</text>`,
  );
  if (train.length > 0) {
    const xs = train.map((p) => p.step);
    const ys = train.map((p) => p.train!);
    parts.push(`<path d="${path(xs, ys)}" fill="none" stroke="#9ecae1" stroke-width="1"/>`);
    if (train.length > 10) {
      parts.push(
        `<path d="${path(xs, smooth(ys, Math.max(1, Math.round(ys.length / 40))))}" fill="none" stroke="#1f77b4" stroke-width="2"/>`,
      );
    }
  }
  if (val.length > 0) {
    const xs = val.map((p) => p.step);
    const ys = val.map((p) => p.val!);
    parts.push(`<path d="${path(xs, ys)}" fill="none" stroke="#ff7f0e" stroke-width="2"/>`);
    for (let i = 0; i < xs.length; i++) {
      parts.push(`<circle cx="${sx(xs[i]).toFixed(1)}" cy="${sy(ys[i]).toFixed(1)}" r="3" fill="#ff7f0e"/>`);
    }
  }
  // Legend.
  const lx = W - M.right - 150;
  const ly = M.top + 10;
  parts.push(
    `<rect x="${lx - 8}" y="${ly - 12}" width="150" height="44" fill="white" stroke="#ccc"/>`,
    `<line x1="${lx}" y1="${ly}" x2="${lx + 24}" y2="${ly}" stroke="#1f77b4" stroke-width="2"/>`,
    `<text x="${lx + 30}" y="${ly}" dominant-baseline="middle">train${train.length > 10 ? ' (smoothed)' : ''}</text>`,
    `<line x1="${lx}" y1="${ly + 20}" x2="${lx + 24}" y2="${ly + 20}" stroke="#ff7f0e" stroke-width="2"/>`,
    `<text x="${lx + 30}" y="${ly + 20}" dominant-baseline="middle">validation</text>`,
    '</svg>',
  );
  return parts.join('\n') + '\n';
}
