// Who may talk to `glasslm serve`. On loopback: only requests addressed to a loopback name (so a web
// page elsewhere cannot reach the API by rebinding its DNS name to 127.0.0.1). On any other address:
// only requests that carry the API key (Authorization: Bearer <key>), and the server refuses to start
// without one.
import { timingSafeEqual } from 'node:crypto';
import { basename, isAbsolute } from 'node:path';

/** 127.0.0.0/8 as a dotted-quad literal (each part 0..255, no leading zeros): not 127.attacker.example. */
function isLoopbackIpv4(name: string): boolean {
  const m = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(name);
  return m !== null && m.slice(1).every((p) => Number(p) <= 255 && (p === '0' || !p.startsWith('0')));
}

/** A listening address on loopback: localhost, 127.x.y.z, ::1 (bracketed or not). */
export function isLoopbackAddress(host: string): boolean {
  const h = host.toLowerCase();
  return h === 'localhost' || h === '::1' || h === '[::1]' || isLoopbackIpv4(h);
}

/**
 * A Host header that names loopback exactly: localhost, a 127.0.0.0/8 literal or [::1], each with an
 * optional port. Anything else (127.attacker.example, localhost.evil, 0x7f.1) is not.
 */
export function isLoopbackHostHeader(header: string | undefined): boolean {
  if (!header) return false;
  const m = /^(\[[^\]]*\]|[^:]*)(?::(\d{1,5}))?$/.exec(header.toLowerCase());
  if (!m) return false;
  const name = m[1];
  if (m[2] !== undefined && Number(m[2]) > 65535) return false;
  return name === 'localhost' || name === '[::1]' || isLoopbackIpv4(name);
}

/** Whether an Authorization header carries `Bearer <key>` (compared in constant time). */
export function hasApiKey(authorization: string | undefined, key: string): boolean {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  if (!m) return false;
  const a = Buffer.from(m[1]);
  const b = Buffer.from(key);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * What the API says the model's source is: a file or folder by its name only (no absolute path, which
 * would tell a caller about the machine's layout); a hub id (or a snapshot in the hub cache) as owner/name.
 */
export function publicSource(source: string): string {
  // a snapshot in the Hugging Face cache: …/models--owner--name/snapshots/<rev>
  const hub = /(?:^|[\\/])models--([^\\/]+?)--([^\\/]+)[\\/]snapshots(?:[\\/]|$)/.exec(source);
  if (hub) return `${hub[1]}/${hub[2]}`;
  if (isAbsolute(source) || source.startsWith('.') || source.includes('\\')) {
    return basename(source.replace(/[\\/]+$/, '')) || '(local file)';
  }
  return source;
}
