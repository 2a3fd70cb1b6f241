// One error class for every mistake a user can make (bad file, bad option, unsupported model).
// The CLI prints `message` on one line and exits non-zero; no stack trace for a user's mistake.

export type GlassErrorCode =
  | 'BAD_FILE' // a file is malformed (truncated, bad header, overlapping spans...)
  | 'NOT_FOUND' // a file, tensor, token or model is missing
  | 'UNSUPPORTED' // a valid input we do not handle yet (model_type, dtype...)
  | 'BAD_INPUT' // a user argument is invalid (prompt too long, bad option value...)
  | 'NETWORK' // a download failed
  | 'CHECKSUM'; // a downloaded file does not match its expected size or hash

/** Messages longer than this are cut in the middle: a value quoted from a hostile file can be megabytes. */
export const MAX_MESSAGE_LENGTH = 1000;

/** One line of at most MAX_MESSAGE_LENGTH characters: line breaks shown as ⏎, an overlong middle elided. */
function readable(message: string): string {
  const line = message.replace(/\r?\n/g, ' ⏎ ');
  if (line.length <= MAX_MESSAGE_LENGTH) return line;
  const head = line.slice(0, 600);
  const tail = line.slice(-300);
  return `${head} …(${line.length - 900} characters elided)… ${tail}`;
}

export class GlassError extends Error {
  readonly code: GlassErrorCode;
  constructor(code: GlassErrorCode, message: string, options?: { cause?: unknown }) {
    super(readable(message), options);
    this.name = 'GlassError';
    this.code = code;
  }
}

export function isGlassError(e: unknown): e is GlassError {
  return e instanceof GlassError;
}
