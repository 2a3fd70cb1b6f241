// Vite's `?worker&inline` imports (as in vite/client, which this project does not pull in whole).
declare module '*?worker&inline' {
  const workerConstructor: { new (options?: { name?: string }): Worker };
  export default workerConstructor;
}

// The engine's src/ files are type-checked here too, without @types/node. What they use of Node is
// guarded at run time: setImmediate where it exists (else setTimeout), and the wasm backend's Node half
// (src/tensor/wasm/node.ts) is imported only when running in Node.
// eslint-disable-next-line no-var -- a global that may be absent: only `var` declares one
declare var setImmediate: ((callback: () => void) => unknown) | undefined;
// The few Node declarations that half uses, so that it type-checks here (never bundled for the page).
declare module 'node:fs/promises' {
  export function readFile(path: URL | string): Promise<Uint8Array>;
}
declare module 'node:worker_threads' {
  export class Worker {
    constructor(source: string, options?: { eval?: boolean; workerData?: unknown });
    once(event: string, listener: (...args: unknown[]) => void): this;
    unref(): void;
    terminate(): Promise<number>;
  }
}
declare module 'node:v8' {
  const v8: { setFlagsFromString(flags: string): void };
  export default v8;
}
