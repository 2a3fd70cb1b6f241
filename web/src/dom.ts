// Small DOM helpers: element creation, SVG creation, and token text made visible.

type Attrs = Record<string, string | number | boolean | undefined | null>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Array<Node | string | null | undefined>
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = String(v);
    else if (k === 'text') e.textContent = String(v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

export function s<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Attrs = {}): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') e.textContent = String(v);
    else e.setAttribute(k, String(v));
  }
  return e;
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`#${id} is missing from the page`);
  return e as T;
}

/** A token's text with whitespace made visible: ␣ for spaces, ↵ for newlines. */
export function showToken(text: string): string {
  if (text === '') return '∅';
  return text.replace(/ /g, '␣').replace(/\n/g, '↵').replace(/\t/g, '⇥').replace(/\r/g, '␍');
}

export function fmt(v: number, digits = 3): string {
  if (!Number.isFinite(v)) return String(v);
  if (v !== 0 && (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e5)) return v.toExponential(2);
  return Number(v.toPrecision(digits)).toString();
}

export function pct(p: number): string {
  if (p >= 0.1) return `${(p * 100).toFixed(0)}%`;
  if (p >= 0.001) return `${(p * 100).toFixed(1)}%`;
  if (p >= 1e-7) return `${Number((p * 100).toPrecision(1))}%`;
  return '<0.00001%';
}

const tooltip = () => document.getElementById('tooltip');

/** Shows a small tooltip next to the pointer. */
export function showTip(ev: MouseEvent, text: string): void {
  const t = tooltip();
  if (!t) return;
  t.textContent = text;
  t.hidden = false;
  const pad = 12;
  const w = t.offsetWidth;
  const x = Math.min(ev.clientX + pad, window.innerWidth - w - 4);
  t.style.left = `${Math.max(4, x)}px`;
  t.style.top = `${ev.clientY + pad}px`;
}

export function hideTip(): void {
  const t = tooltip();
  if (t) t.hidden = true;
}

/** Width available inside an element (its content box), at least `min`. */
export function widthOf(e: HTMLElement, min = 200): number {
  return Math.max(min, e.clientWidth || e.getBoundingClientRect().width || min);
}

/**
 * Shows an error in the alert element `id`, which sits beside the control that caused it, and brings it
 * into view; null hides it.
 */
export function errorAt(id: string, e: unknown): void {
  const el = byId(id);
  if (e === null) {
    el.hidden = true;
    el.textContent = '';
    return;
  }
  el.textContent = e instanceof Error ? e.message : String(e);
  el.hidden = false;
  el.scrollIntoView({ block: 'nearest' });
}
