// Output folders that never lose work — one mechanism for every command that writes a folder (train,
// finetune). Before anything is created: the folder must be new, empty, or this command's own (a marker file
// such as trainer_state.json, or only names the command writes); a folder holding other files needs --force;
// and it may never be (or hold, under a name the command writes) a path the command reads, compared by real
// path, so `finetune --model X --out X` cannot rewrite the model it reads. A run that fails before it saved
// anything removes what it created, so a bad input leaves nothing behind.
import { existsSync, realpathSync, statSync } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { GlassError } from '../util/errors.js';

export interface OutputFolderOptions {
  /** Write into a folder that holds other files (those named like this command's outputs are replaced). */
  force?: boolean;
  /** Paths the command reads (model, tokenizer, data); absent or undefined ones are skipped. */
  inputs?: Array<string | undefined>;
  /** Whether an entry of the folder is a name this command writes (then it is not someone else's work). */
  owns: (name: string) => boolean;
  /** A file whose presence makes the folder this command's own whatever else it holds. */
  marker?: string;
  /** The option naming the folder, for messages (default --out). */
  flag?: string;
}

/** The real path of `p`, also when it does not exist yet (its nearest existing parent resolved). */
function realPath(p: string): string {
  const abs = resolve(p);
  if (existsSync(abs)) return realpathSync(abs);
  const parent = dirname(abs);
  return parent === abs ? abs : join(realPath(parent), abs.slice(parent.length + 1));
}

export class OutputFolder {
  private before = new Set<string>();
  private createdRoot: string | undefined;
  private made = false;

  private constructor(
    readonly path: string,
    private readonly owns: (name: string) => boolean,
  ) {}

  /** Checks that `path` may be written, creating nothing; throws a one-line GlassError when it may not. */
  static async check(path: string, o: OutputFolderOptions): Promise<OutputFolder> {
    const flag = o.flag ?? '--out';
    const folder = new OutputFolder(path, o.owns);
    for (let p = resolve(path); ; p = dirname(p)) {
      if (existsSync(p)) {
        if (!statSync(p).isDirectory()) {
          const which = p === resolve(path) ? path : `${path}: ${p}`;
          throw new GlassError(
            'BAD_INPUT',
            `${flag} ${which} is a file, not a folder — choose another ${flag}`,
          );
        }
        break;
      }
      if (dirname(p) === p) break;
    }
    const real = realPath(path);
    for (const input of o.inputs ?? []) {
      if (!input || !existsSync(input)) continue;
      const r = realPath(input);
      const rel = relative(real, r);
      const first = rel.split(sep)[0];
      if (rel === '' || (!rel.startsWith('..') && !rel.startsWith(sep) && o.owns(first))) {
        throw new GlassError(
          'BAD_INPUT',
          `${flag} ${path} would write over ${input}, which this command reads — choose another ${flag}`,
        );
      }
    }
    if (!existsSync(path)) return folder;
    const entries = await readdir(path);
    folder.before = new Set(entries);
    if (o.marker && entries.includes(o.marker)) return folder;
    const foreign = entries.filter((e) => !o.owns(e));
    if (foreign.length > 0 && !o.force) {
      const list = foreign.slice(0, 3).join(', ') + (foreign.length > 3 ? `, … (${foreign.length})` : '');
      throw new GlassError(
        'BAD_INPUT',
        `${flag} ${path} is not empty and is not a glasslm output folder (it holds ${list}) — choose another ${flag}, or pass --force to write into it`,
      );
    }
    return folder;
  }

  /** Creates the folder (and missing parents). */
  async create(): Promise<void> {
    this.createdRoot = await mkdir(this.path, { recursive: true });
    this.made = true;
  }

  /** Removes what this command created: the folders it made, or the entries it added to an existing one. */
  async discard(): Promise<void> {
    if (!this.made) return;
    if (this.createdRoot) {
      await rm(this.createdRoot, { recursive: true, force: true });
      return;
    }
    for (const e of await readdir(this.path).catch(() => [] as string[])) {
      if (!this.before.has(e) && this.owns(e)) await rm(join(this.path, e), { recursive: true, force: true });
    }
  }
}
