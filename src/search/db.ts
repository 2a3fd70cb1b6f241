// The two deployments of one store behind one tiny client: PGlite (PostgreSQL in process, persisted to a
// local folder) or a PostgreSQL server reached through `pg` (`postgres://...`). Both speak the same SQL
// (schema.ts); this file only opens, queries and closes. The drivers are imported on first use.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { GlassError } from '../util/errors.js';

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
}

const POSTGRES_URL = /^postgres(ql)?:\/\//i;

export function isPostgresUrl(spec: string): boolean {
  return POSTGRES_URL.test(spec);
}

/** The URL without its password, for messages. */
export function maskUrl(spec: string): string {
  try {
    const u = new URL(spec);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return spec.replace(/:[^:@/]*@/, ':***@');
  }
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
  if (isPostgresUrl(spec)) return { kind: 'postgres', location: maskUrl(spec), exists: true };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(spec)) {
    throw new GlassError(
      'BAD_INPUT',
      `--db ${maskUrl(spec)}: not a folder or a postgres:// URL (those are the two kinds of store)`,
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
  if (!existsSync(join(dir, 'PG_VERSION')) && readdirSync(dir).length > 0) {
    throw new GlassError(
      'BAD_INPUT',
      `--db ${dir}: this folder holds other files and is not a glasslm store; give a new or empty folder`,
    );
  }
  return { kind: 'pglite', location: dir, exists: true };
}

/** `--db <folder>` (embedded PGlite) or `--db postgres://user:pass@host:port/database` (a server). */
export async function openDb(spec: string, options: OpenDbOptions = {}): Promise<SqlClient> {
  const c = checkDbSpec(spec);
  if (c.kind === 'postgres') return openPostgres(spec);
  if (!c.exists) {
    if (!options.create) {
      throw new GlassError(
        'NOT_FOUND',
        `--db ${c.location}: no store there (create one with \`glasslm index <docs> --db ${c.location}\`)`,
      );
    }
    await mkdir(c.location, { recursive: true });
  }
  return openPglite(c.location);
}

async function openPostgres(url: string): Promise<SqlClient> {
  const location = maskUrl(url);
  const { default: pg } = await import('pg');
  let client: InstanceType<typeof pg.Client>;
  try {
    client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 15_000 });
  } catch (e) {
    throw new GlassError('BAD_INPUT', `--db ${location}: ${(e as Error).message}`);
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
      `cannot connect to ${location}: ${err.message || err.code || 'connection failed'}`,
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

async function openPglite(dir: string): Promise<SqlClient> {
  const [{ PGlite }, { vector }] = await Promise.all([
    import('@electric-sql/pglite'),
    import('@electric-sql/pglite-pgvector'),
  ]);
  let db: InstanceType<typeof PGlite>;
  try {
    db = new PGlite(dir, { extensions: { vector } });
    await db.waitReady;
  } catch (e) {
    throw new GlassError('BAD_FILE', `--db ${dir}: cannot open the store: ${(e as Error).message}`, {
      cause: e,
    });
  }
  return pgliteClient(db, dir);
}

/** A client over an open PGlite (an in-memory one for tests, say); close() closes the database. */
export function pgliteClient(db: import('@electric-sql/pglite').PGlite, location = 'memory://'): SqlClient {
  return {
    kind: 'pglite',
    location,
    async query<T>(sql: string, params?: unknown[]): Promise<T[]> {
      const r = await db.query<T>(sql, params);
      return r.rows;
    },
    async close() {
      if (!db.closed) await db.close();
    },
  };
}
