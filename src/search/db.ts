// The two deployments of one store behind one tiny client: PGlite (PostgreSQL in process, persisted to a
// local folder) or a PostgreSQL server reached through `pg` (`postgres://...`). Both speak the same SQL
// (schema.ts); this file only opens, queries and closes. The drivers are imported on first use.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { chmod, mkdir, readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { GlassError } from '../util/errors.js';
import { acquireLock, waitMessage, type Lock } from '../util/lock.js';
import { maskSecrets } from '../util/mask.js';

export interface SqlClient {
  readonly kind: 'pglite' | 'postgres';
  /** Where the store lives, for messages: the folder, or the URL with its password masked. */
  readonly location: string;
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

export interface OpenDbOptions {
  /** Create the folder (PGlite) if it does not exist; otherwise a missing store is an error. */
  create?: boolean;
  /**
   * Called once when another process holds the store and this one waits for it (a PGlite folder is
   * opened by one process at a time; on a server, one writer at a time).
   */
  onWait?: (message: string) => void;
  /** Take the store's writer lock (on a server; a PGlite folder is always exclusive). */
  writer?: boolean;
  /** What this process does, shown to a process that waits for it. */
  purpose?: string;
}

/** The lock file inside a PGlite store folder (PostgreSQL ignores files it does not know). */
export const STORE_LOCK = '.glasslm-lock';

const POSTGRES_URL = /^postgres(ql)?:\/\//i;

export function isPostgresUrl(spec: string): boolean {
  return POSTGRES_URL.test(spec);
}

/** Runs fn inside BEGIN … COMMIT (ROLLBACK if it throws): all of it is stored, or none of it. */
export async function transaction<T>(db: SqlClient, fn: () => Promise<T>): Promise<T> {
  await db.query('BEGIN');
  try {
    const r = await fn();
    await db.query('COMMIT');
    return r;
  } catch (e) {
    await db.query('ROLLBACK').catch(() => undefined);
    throw e;
  }
}

/**
 * The checks on a `--db` that need no connection: a postgres:// URL, or a folder that is absent, empty or
 * a PostgreSQL data folder (PG_VERSION). Throws a GlassError naming what is wrong.
 */
export function checkDbSpec(spec: string): { kind: SqlClient['kind']; location: string; exists: boolean } {
  if (!spec) throw new GlassError('BAD_INPUT', '--db is empty: give a folder or a postgres:// URL');
  if (isPostgresUrl(spec)) return { kind: 'postgres', location: maskSecrets(spec), exists: true };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(spec)) {
    throw new GlassError(
      'BAD_INPUT',
      `--db ${maskSecrets(spec)}: not a folder or a postgres:// URL (those are the two kinds of store)`,
    );
  }
  const dir = resolve(spec);
  if (!existsSync(dir)) return { kind: 'pglite', location: dir, exists: false };
  if (!statSync(dir).isDirectory()) {
    throw new GlassError(
      'BAD_INPUT',
      `--db ${dir}: is a file; give a folder for the store (or a postgres:// URL)`,
    );
  }
  // A folder with a lock may be a store another glasslm is creating right now: openDb looks again once
  // it holds the lock.
  if (!existsSync(join(dir, STORE_LOCK))) assertStoreFolder(dir);
  return { kind: 'pglite', location: dir, exists: true };
}

/** Throws unless the folder is empty (but for a lock) or a PostgreSQL data folder. */
function assertStoreFolder(dir: string): void {
  const others = readdirSync(dir).filter((f) => !f.startsWith(STORE_LOCK));
  if (!existsSync(join(dir, 'PG_VERSION')) && others.length > 0) {
    throw new GlassError(
      'BAD_INPUT',
      `--db ${dir}: this folder holds other files and is not a glasslm store; give a new or empty folder`,
    );
  }
}

/** `--db <folder>` (embedded PGlite) or `--db postgres://user:pass@host:port/database` (a server). */
export async function openDb(spec: string, options: OpenDbOptions = {}): Promise<SqlClient> {
  const c = checkDbSpec(spec);
  if (c.kind === 'postgres') {
    const db = await openPostgres(spec);
    if (options.writer) {
      try {
        await writerLock(db, options.onWait);
      } catch (e) {
        await db.close();
        throw e;
      }
    }
    return db;
  }
  if (!c.exists) {
    if (!options.create) {
      throw new GlassError(
        'NOT_FOUND',
        `--db ${c.location}: no store there (create one with \`glasslm index <docs> --db ${c.location}\`)`,
      );
    }
    await mkdir(c.location, { recursive: true, mode: 0o700 });
  }
  // One process at a time: two PostgreSQL instances on one data folder overwrite each other's pages.
  const lock = await acquireLock(join(c.location, STORE_LOCK), {
    purpose: options.purpose,
    onWait: (holder, path) => options.onWait?.(`${waitMessage(holder, path)}; waiting for it to finish…`),
  });
  try {
    assertStoreFolder(c.location);
    return await openPglite(c.location, lock);
  } catch (e) {
    await lock.release();
    throw e;
  }
}

/** Any number fixed for glasslm: the advisory lock key of a store's single writer on a server. */
const WRITER_LOCK_KEY = 0x676c6173;

/** Waits for the server's session-level advisory lock (released when the connection closes). */
async function writerLock(db: SqlClient, onWait?: (message: string) => void): Promise<void> {
  let told = false;
  for (;;) {
    const [r] = await db.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [WRITER_LOCK_KEY]);
    if (r.ok) return;
    if (!told) {
      told = true;
      onWait?.(`waiting: another glasslm index is writing to ${db.location}; waiting for it to finish…`);
    }
    await new Promise((res) => setTimeout(res, 250));
  }
}

/**
 * The store holds the indexed text (tables and write-ahead log): only its owner may read it. Folders
 * 0700, files 0600, for a new store and for one made by an older glasslm.
 */
export async function restrictStoreModes(dir: string): Promise<void> {
  await chmod(dir, 0o700);
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) await restrictStoreModes(p);
    else if (e.isFile()) await chmod(p, 0o600);
  }
}

/** Runs fn with umask 077, so files it creates are the owner's alone; a no-op in worker threads. */
async function withPrivateUmask<T>(fn: () => Promise<T>): Promise<T> {
  let old: number | undefined;
  try {
    old = process.umask(0o077);
  } catch {
    old = undefined; // worker threads cannot change the umask
  }
  try {
    return await fn();
  } finally {
    if (old !== undefined) process.umask(old);
  }
}

async function openPostgres(url: string): Promise<SqlClient> {
  const location = maskSecrets(url);
  const { default: pg } = await import('pg');
  let client: InstanceType<typeof pg.Client>;
  try {
    client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 15_000 });
  } catch (e) {
    throw new GlassError('BAD_INPUT', `--db ${location}: ${maskSecrets((e as Error).message)}`);
  }
  // An idle connection dropped by the server must not crash the process with an unhandled 'error'.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (e) {
    await client.end().catch(() => undefined);
    const err = e as Error & { code?: string };
    throw new GlassError(
      'NETWORK',
      `cannot connect to ${location}: ${maskSecrets(err.message || err.code || 'connection failed')}`,
      { cause: e },
    );
  }
  return {
    kind: 'postgres',
    location,
    async query<T>(sql: string, params?: unknown[]): Promise<T[]> {
      const r = await client.query(sql, params);
      return r.rows as T[];
    },
    async close() {
      await client.end().catch(() => undefined);
    },
  };
}

async function openPglite(dir: string, lock: Lock): Promise<SqlClient> {
  const [{ PGlite }, { vector }] = await Promise.all([
    import('@electric-sql/pglite'),
    import('@electric-sql/pglite-pgvector'),
  ]);
  let db: InstanceType<typeof PGlite>;
  try {
    await restrictStoreModes(dir);
    db = await withPrivateUmask(async () => {
      const d = new PGlite(dir, { extensions: { vector } });
      await d.waitReady;
      return d;
    });
  } catch (e) {
    throw new GlassError('BAD_FILE', `--db ${dir}: cannot open the store: ${(e as Error).message}`, {
      cause: e,
    });
  }
  return pgliteClient(db, dir, async () => {
    // PostgreSQL (in WebAssembly) sets some modes itself on files it makes during the session; the folder
    // being 0700 keeps them from anyone else meanwhile, and they are tightened when the store closes.
    await restrictStoreModes(dir).catch(() => undefined);
    await lock.release();
  });
}

/** A client over an open PGlite (an in-memory one for tests, say); close() closes the database. */
export function pgliteClient(
  db: import('@electric-sql/pglite').PGlite,
  location = 'memory://',
  afterClose?: () => Promise<void>,
): SqlClient {
  let closed = false;
  return {
    kind: 'pglite',
    location,
    async query<T>(sql: string, params?: unknown[]): Promise<T[]> {
      const r = await db.query<T>(sql, params);
      return r.rows;
    },
    async close() {
      if (closed) return;
      closed = true;
      try {
        if (!db.closed) await db.close();
      } finally {
        await afterClose?.();
      }
    },
  };
}
