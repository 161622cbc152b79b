// `add`: stage files and directories. Unchanged files (same size, mtime, ctime, inode as when
// last staged) are not read again; files removed under a named directory are unstaged.

import { readlinkSync } from 'node:fs';
import { basename } from 'node:path';
import { hashChunk, idEquals, type ObjectId, ShoalError } from '../core/index.ts';
import type { PackSession, Repository, StagedEntry, StatStamp } from '../store/index.ts';
import { ChunkPipeline } from './chunk-pipeline.ts';
import { isTempName } from './content.ts';
import { ingestFile, PIPELINE_FILE } from './ingest.ts';
import { readMergeState } from './merge-state.ts';
import type { OnProgress } from './progress.ts';
import {
  alongside,
  blockingAncestor,
  IGNORE_FILE,
  IgnoreRules,
  isExecutable,
  lstatInWalk,
  lstatOrNull,
  repoPath,
  type StatFields,
  undecodableNameAt,
  type WorkEntry,
  walk,
} from './worktree.ts';

export interface AddOptions {
  cwd: string;
  paths: string[];
  onProgress?: OnProgress;
  signal?: AbortSignal;
  /** Add what .shoalignore files hide too (`add -f`). */
  force?: boolean;
}

export interface AddResult {
  added: string[];
  modified: string[];
  removed: string[];
  unchanged: number;
  failed: { path: string; code: string; message: string }[];
  bytesRead: number;
  newBytes: number;
  /** Untracked directories that could not be read (permission denied): passed over, as in git. */
  unreadable: string[];
}

const BATCH_FILES = 2000;

/** What staging a file will change: the staging index's entry for it, if any. */
type Old = Pick<StagedEntry, 'kind' | 'executable' | 'id'> | undefined;

/** What merging a target's walk with its staged entries finds at one path. */
type Found = { read: WorkEntry; old: Old } | { unchanged: string } | { gone: string };

/** The targets not inside another one (a target inside another is walked with it). */
function outermost(targets: string[]): string[] {
  const unique = [...new Set(targets)];
  return unique.filter((t) => !unique.some((u) => u !== t && (u === '' || t.startsWith(`${u}/`))));
}
// A file modified within this window of being read could change again within the same timestamp
// tick unnoticed, so its stat stamp is not trusted: the next status or add reads it again.
export const RACY_WINDOW_NS = 100_000_000n;

// On a file system that keeps whole seconds (ext4 with small inodes, FAT's two seconds, HFS+),
// a timestamp is rounded down: a file written at x.6 s shows x.0, and an edit at x.9 leaves the
// stat as it was. There the window is two seconds, past any later edit's tick.
const COARSE_RACY_WINDOW_NS = 2_000_000_000n;

/** Whether both times are whole seconds: the mark of such a file system (ns are 0 by chance 1e-9). */
function coarseTimes(st: Pick<StatFields, 'mtimeNs' | 'ctimeNs'>): boolean {
  return st.mtimeNs % 1_000_000_000n === 0n && st.ctimeNs % 1_000_000_000n === 0n;
}

export function stampOf(entry: WorkEntry, nowNs: bigint): StatStamp | null {
  const st = entry.stat;
  const window = coarseTimes(st) ? COARSE_RACY_WINDOW_NS : RACY_WINDOW_NS;
  if (nowNs - st.mtimeNs < window || nowNs - st.ctimeNs < window) return null;
  return { mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, ino: st.ino, size: Number(st.size) };
}

export function stampMatches(staged: StagedEntry | undefined, entry: WorkEntry): boolean {
  const s = staged?.stamp;
  if (!s) return false;
  const st = entry.stat;
  return (
    s.mtimeNs === st.mtimeNs &&
    s.ctimeNs === st.ctimeNs &&
    s.ino === st.ino &&
    BigInt(s.size) === st.size &&
    staged.executable === isExecutable(st) &&
    staged.kind === entry.kind
  );
}

export function underAny(path: string, targets: string[]): boolean {
  return targets.some((t) => t === '' || path === t || path.startsWith(`${t}/`));
}

/** Store a symlink's target as a chunk. */
export async function stageSymlink(
  entry: WorkEntry,
  session: PackSession | null,
): Promise<{ id: ObjectId; size: number }> {
  const target = Buffer.from(readlinkSync(entry.abs, { encoding: 'buffer' }));
  const id = hashChunk(target);
  if (session) await session.putChunk(id, target);
  return { id, size: target.length };
}

export async function add(repo: Repository, opts: AddOptions): Promise<AddResult> {
  const targets = opts.paths.map((p) => repoPath(repo.root, opts.cwd, p));
  return repo.withWriteLock(async () => {
    // With --force nothing is ignored, as with `git add -f`.
    const rules = new IgnoreRules(repo.root, { disabled: opts.force === true });
    const ignoredTargets: string[] = [];
    const conflicted = new Set(readMergeState(repo)?.conflicts.map((c) => c.path) ?? []);
    for (let i = 0; i < targets.length; i++) {
      const t = targets[i]!;
      const blocker = blockingAncestor(repo.root, t);
      if (blocker !== undefined && lstatOrNull(`${repo.root}/${blocker}`)?.isSymbolicLink()) {
        throw new ShoalError(
          'PATH_OUTSIDE_REPOSITORY',
          `'${opts.paths[i]}' is beyond a symbolic link ('${blocker}')`,
          { path: opts.paths[i] },
        );
      }
      // (A name too long to open, as given, is said as a walk would say it.)
      const st = t === '' ? undefined : lstatInWalk(`${repo.root}/${t}`, t);
      // `lnk/` names what is inside the directory a symlink points at, not the symlink: as git
      // says, beyond a symbolic link (it staged the link itself).
      const asDir =
        opts.paths[i]!.endsWith('/') || (process.platform === 'win32' && opts.paths[i]!.endsWith('\\'));
      if (st?.isSymbolicLink() && asDir) {
        throw new ShoalError(
          'PATH_OUTSIDE_REPOSITORY',
          `'${opts.paths[i]}' is beyond a symbolic link ('${t}')`,
          {
            path: opts.paths[i],
          },
        );
      }
      const isTracked = t === '' ? repo.staging.count() > 0 : repo.staging.has(t) || repo.staging.hasUnder(t);
      if (st === null && !isTracked) {
        const shown = undecodableNameAt(repo.root, t);
        if (shown !== undefined) {
          throw new ShoalError(
            'INVALID_NAME',
            `cannot track '${shown}': its name is not valid UTF-8 (rename it, or list it in ${IGNORE_FILE})`,
            { path: shown },
          );
        }
        throw new ShoalError('PATH_NOT_FOUND', `pathspec '${opts.paths[i]}' did not match any files`, {
          path: opts.paths[i],
        });
      }
      // What a walk passes over as shoal's own temporary file is refused when named (else it
      // would be recorded, then shown as deleted by every status, which passes over it).
      if (st?.isDirectory() === false && !isTracked && isTempName(basename(t))) {
        throw new ShoalError(
          'INVALID_NAME',
          `cannot add '${opts.paths[i]}': names like .<name>.shoal-tmp-<number> are shoal's temporary files`,
          { path: opts.paths[i] },
        );
      }
      // A FIFO, socket or device inside a directory is passed over; named, it is refused, as git
      // refuses it (a tracked file replaced by one counts as deleted, as in a walk).
      if (st && !st.isFile() && !st.isDirectory() && !st.isSymbolicLink() && !isTracked) {
        throw new ShoalError(
          'NOT_A_FILE',
          `cannot add '${opts.paths[i]}': only regular files, symbolic links and directories can be added`,
          { path: opts.paths[i] },
        );
      }
      // As in git, naming an untracked path that .shoalignore hides is refused without --force.
      // A path in conflict in a merge counts as tracked.
      if (t !== '' && !isTracked && !conflicted.has(t) && rules.hides(t, st?.isDirectory() ?? false)) {
        ignoredTargets.push(opts.paths[i]!);
      }
    }
    if (ignoredTargets.length > 0) {
      throw new ShoalError(
        'PATH_IGNORED',
        `these paths are ignored by a .shoalignore file:\n  ${ignoredTargets.join('\n  ')}\nuse 'shoal add -f' to add them anyway`,
        { paths: ignoredTargets },
      );
    }
    // Each target's files and its staged entries are read in path order and merged in step, and
    // each file is read as the merge reaches it, so memory stays flat however many files there
    // are. Staged entries are written in batches as files are read: each has a path at or before
    // the merge's position, which the staging index's next page (read after that position) skips.
    const roots = outermost(targets);
    const unreadable = new Set<string>();
    const found = function* (t: string): Generator<Found> {
      const files = walk(repo.root, t, rules, {
        tracked: repo.staging,
        unreadable: (d) => unreadable.add(d),
      }) as Iterable<WorkEntry>; // no enter(): nothing skipped
      for (const [e, s] of alongside(files, repo.staging.entriesUnder(t))) {
        if (!e)
          yield { gone: s!.path }; // gone, or a directory now stands there
        else if (stampMatches(s, e)) yield { unchanged: e.path };
        else yield { read: e, old: s ? { kind: s.kind, executable: s.executable, id: s.id } : undefined };
      }
    };
    // Progress needs totals up front: a first pass counts what the second will read.
    let bytesTotal = 0;
    let itemsTotal = 0;
    let largest = 0;
    if (opts.onProgress) {
      for (const t of roots) {
        for (const f of found(t)) {
          if (opts.signal?.aborted) throw new ShoalError('ABORTED', 'interrupted');
          if (!('read' in f)) continue;
          const size = Number(f.read.stat.size);
          bytesTotal += size;
          itemsTotal++;
          largest = Math.max(largest, size);
        }
      }
    }
    const result: AddResult = {
      added: [],
      modified: [],
      removed: [],
      unchanged: 0,
      failed: [],
      bytesRead: 0,
      newBytes: 0,
      unreadable: [],
    };
    const removed: string[] = [];
    let removing: string[] = []; // removals not yet applied: they go with the next batch
    const pipeline = new ChunkPipeline();
    if (largest >= PIPELINE_FILE) pipeline.warm(largest);
    // Directly to the device: what add stores is still in the working tree, and a 1 GiB add took
    // 1.27-1.51 s this way against 1.51-3.38 s through the page cache, where the kernel must find
    // memory for every byte (BENCHMARKS.md, "Direct I/O").
    const session = await repo.objects.beginSession({ direct: true });
    try {
      let batch: StagedEntry[] = [];
      const flush = async (): Promise<void> => {
        await session.flush(); // objects are durable before the staging index points at them
        // Removals go in the same transaction as the entries walked after them, so an add that
        // fails part-way never leaves 'x/y' staged beside the file 'x' it replaced.
        repo.staging.apply(batch, removing);
        batch = [];
        removing = [];
      };
      let itemsDone = 0;
      const stage = async (e: WorkEntry, old: Old): Promise<void> => {
        if (opts.signal?.aborted) throw new ShoalError('ABORTED', 'interrupted');
        const nowNs = BigInt(Date.now()) * 1_000_000n;
        let entry: StagedEntry;
        try {
          if (e.kind === 'symlink') {
            const link = await stageSymlink(e, session);
            entry = {
              path: e.path,
              kind: 'symlink',
              executable: false,
              ...link,
              height: 0,
              stamp: stampOf(e, nowNs),
            };
          } else {
            const before = result.bytesRead;
            const ing = await ingestFile(e.abs, {
              chunker: repo.chunker,
              session,
              pipeline,
              signal: opts.signal,
              onBytes: (n) => {
                result.bytesRead += n;
                opts.onProgress?.({
                  phase: 'add',
                  bytesDone: result.bytesRead,
                  bytesTotal: Math.max(bytesTotal, result.bytesRead),
                  itemsDone,
                  itemsTotal,
                });
              },
            });
            result.bytesRead = before + ing.size;
            result.newBytes += ing.newBytes;
            entry = {
              path: e.path,
              kind: 'file',
              executable: isExecutable(ing.stat),
              size: ing.size,
              id: ing.id,
              height: ing.height,
              stamp: stampOf({ ...e, stat: ing.stat }, nowNs),
            };
          }
        } catch (err) {
          if (err instanceof ShoalError && err.code !== 'DISK_FULL' && err.code !== 'ABORTED') {
            result.failed.push({ path: e.path, code: err.code, message: err.message });
            return;
          }
          throw err;
        }
        if (!old) result.added.push(e.path);
        else if (
          old.kind === entry.kind &&
          old.executable === entry.executable &&
          idEquals(old.id, entry.id)
        ) {
          result.unchanged++;
        } else result.modified.push(e.path);
        batch.push(entry);
        itemsDone++;
        if (batch.length >= BATCH_FILES) await flush();
      };
      for (const t of roots) {
        let walkedAny = false;
        for (const f of found(t)) {
          if ('gone' in f) {
            removed.push(f.gone);
            removing.push(f.gone);
            continue;
          }
          if (!walkedAny) {
            walkedAny = true;
            // A staged file where a directory now stands ('x' staged, 'x/y' added) leaves the
            // index, as in git; otherwise the next commit would hold both and fail.
            for (let i = t.indexOf('/'); i >= 0; i = t.indexOf('/', i + 1)) {
              if (repo.staging.has(t.slice(0, i))) {
                removed.push(t.slice(0, i));
                removing.push(t.slice(0, i));
              }
            }
          }
          if ('unchanged' in f) result.unchanged++;
          else await stage(f.read, f.old);
        }
      }
      if (itemsTotal > 0) {
        opts.onProgress?.({ phase: 'add', bytesDone: result.bytesRead, bytesTotal, itemsDone, itemsTotal });
      }
      result.removed = [...new Set(removed)]; // an ancestor of two targets is found twice
      await flush();
      await session.close();
    } catch (err) {
      await session.abort();
      throw err;
    } finally {
      await pipeline.close();
    }
    result.unreadable = [...unreadable];
    return result;
  });
}
