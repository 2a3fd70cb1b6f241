// Sending a long answer (generated steps, a trace) without letting one client hold the server: the
// chunks are written as they come, with a turn of the event loop between them; a client that stops
// reading (the socket's buffer stays full) is dropped after a timeout, which ends the work and frees
// what it held; a client that goes away ends it at once.
import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';
import { nextTurn } from '../generate/steps.js';

export interface StreamOptions {
  /** Content-Type of the answer. */
  type: string;
  /** How long a write may wait for the client to read, ms, before the client is dropped. */
  stallTimeoutMs: number;
  /** Called once, when the stream is over (finished, failed, dropped or abandoned). */
  onDone?: (how: 'finished' | 'failed' | 'stalled' | 'gone') => void;
  /** An error in the middle of the stream: logged, and sent as one last chunk. */
  onError?: (e: unknown) => string;
}

/**
 * Answers 200 with `first` and then every chunk of `rest`. Call it only once the request is known to
 * be servable (its errors so far answered with a proper status): from here on the status is sent.
 */
export async function sendStream(
  reply: FastifyReply,
  first: string,
  rest: AsyncIterator<string> | Iterator<string>,
  o: StreamOptions,
): Promise<void> {
  reply.hijack();
  const res = reply.raw;
  let how: 'finished' | 'failed' | 'stalled' | 'gone' = 'finished';
  res.writeHead(200, { 'content-type': o.type });
  try {
    let sent = await write(res, first, o.stallTimeoutMs);
    while (sent === 'ok') {
      await nextTurn();
      if (res.destroyed) {
        sent = 'gone';
        break;
      }
      let r: IteratorResult<string>;
      try {
        r = await rest.next();
      } catch (e) {
        how = 'failed';
        if (o.onError) await write(res, o.onError(e), o.stallTimeoutMs);
        break;
      }
      if (r.done) break;
      sent = await write(res, r.value, o.stallTimeoutMs);
    }
    if (sent !== 'ok') how = sent;
    else if (!res.destroyed) res.end();
  } finally {
    await rest.return?.(undefined);
    o.onDone?.(how);
  }
}

/** Writes s: 'gone' when the client is gone; 'stalled' when it did not read it within `ms` (dropped). */
function write(res: ServerResponse, s: string, ms: number): Promise<'ok' | 'gone' | 'stalled'> {
  if (res.destroyed) return Promise.resolve('gone');
  if (res.write(s)) return Promise.resolve('ok');
  return new Promise((resolve) => {
    const settle = (r: 'ok' | 'gone' | 'stalled') => {
      clearTimeout(timer);
      res.off('drain', onDrain);
      res.off('close', onClose);
      resolve(r);
    };
    const onDrain = () => settle('ok');
    const onClose = () => settle('gone');
    const timer = setTimeout(() => {
      settle('stalled');
      res.destroy();
    }, ms);
    res.on('drain', onDrain);
    res.on('close', onClose);
  });
}

/** Joins small chunks into pieces of at least `bytes` characters (fewer writes, fewer turns). */
export function* batched(chunks: Iterable<string>, bytes = 64 * 1024): Generator<string> {
  let buf = '';
  for (const c of chunks) {
    buf += c;
    if (buf.length >= bytes) {
      yield buf;
      buf = '';
    }
  }
  if (buf) yield buf;
}

/**
 * JSON.stringify(value) in pieces: objects and arrays down to `depth` levels are opened and closed here,
 * their members stringified one by one (a trace: each layer, each step, each embedding table apart).
 */
export function* jsonChunks(value: unknown, depth = 2): Generator<string> {
  if (depth <= 0 || value === null || typeof value !== 'object') {
    yield JSON.stringify(value) ?? 'null';
    return;
  }
  if (Array.isArray(value)) {
    yield '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) yield ',';
      const v = value[i];
      yield* jsonChunks(v === undefined || typeof v === 'function' ? null : v, depth - 1);
    }
    yield ']';
    return;
  }
  yield '{';
  let first = true;
  for (const [k, v] of Object.entries(value)) {
    if (v === undefined || typeof v === 'function') continue;
    yield (first ? '' : ',') + JSON.stringify(k) + ':';
    first = false;
    yield* jsonChunks(v, depth - 1);
  }
  yield '}';
}
