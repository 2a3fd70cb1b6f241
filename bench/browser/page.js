// The in-page half of bench/browser.ts: measureKernels on 1..N threads (Web Workers over a shared memory
// when the page is cross-origin isolated; one thread otherwise), the figures left in window.result.
import { measureKernels } from './measure.js';

const maxThreads = Number(
  new URLSearchParams(location.search).get('threads') ?? navigator.hardwareConcurrency ?? 1,
);
const isolated = globalThis.crossOriginIsolated === true;
const rows = [];
try {
  for (let t = 1; t <= (isolated ? maxThreads : 1); t++) rows.push(await measureKernels(t, isolated));
  window.result = { isolated, userAgent: navigator.userAgent, rows };
} catch (e) {
  window.result = { error: String(e && e.stack ? e.stack : e) };
}
