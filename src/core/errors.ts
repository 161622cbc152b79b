// Typed errors. Every user-facing failure is a ShoalError with a stable `code`; the CLI maps
// codes to exit statuses in one place. Anything else that escapes is a bug.

export type ErrorCode =
  | 'NOT_A_REPOSITORY'
  | 'ALREADY_A_REPOSITORY'
  | 'PATH_OUTSIDE_REPOSITORY'
  | 'PATH_NOT_FOUND'
  | 'PATH_IGNORED'
  | 'NOT_A_FILE'
  | 'UNKNOWN_REV'
  | 'AMBIGUOUS_REV'
  | 'CORRUPT_OBJECT'
  | 'MISSING_OBJECT'
  | 'UNSUPPORTED_FORMAT'
  | 'FILE_CHANGED_WHILE_READING'
  | 'DISK_FULL'
  | 'FILE_TOO_LARGE'
  | 'LOCKED'
  | 'NOTHING_TO_COMMIT'
  | 'DIRTY_WORKTREE'
  | 'INVALID_NAME'
  | 'ALREADY_EXISTS'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'BAD_SIGNATURE'
  | 'INVALID_ARGUMENT'
  | 'PEER_ERROR'
  | 'PERMISSION_DENIED'
  | 'NOT_FAST_FORWARD'
  | 'ABORTED'
  | 'CURRENT_BRANCH'
  | 'NOT_MERGED'
  | 'MERGE_IN_PROGRESS'
  | 'MOVE_INTERRUPTED'
  | 'NO_MERGE_IN_PROGRESS'
  | 'UNRESOLVED_CONFLICTS'
  | 'UNRELATED_HISTORIES'
  | 'TIMEOUT'
  | 'TOO_LARGE'
  | 'USAGE';

export class ShoalError extends Error {
  override readonly name = 'ShoalError';
  readonly code: ErrorCode;
  readonly detail: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, detail?: Record<string, unknown>) {
    super(message);
    this.code = code;
    this.detail = detail;
  }
}

export function isShoalError(err: unknown, code?: ErrorCode): err is ShoalError {
  return err instanceof ShoalError && (code === undefined || err.code === code);
}

/**
 * A system call's failure (permission, read-only file system, full disk) as the error a user
 * should see, naming `path` (what the user knows, where the call failed on a temporary beside
 * it); null for any other error.
 */
export function systemError(err: unknown, path?: string): ShoalError | null {
  const { code, at } = failure(err, path);
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return new ShoalError('PERMISSION_DENIED', `permission denied${at}`);
    case 'EROFS':
      return new ShoalError('PERMISSION_DENIED', `read-only file system${at}`);
    case 'ENOSPC':
    case 'EDQUOT':
      return new ShoalError('DISK_FULL', `no space left on device${at}`);
    default:
      return null;
  }
}

/**
 * systemError, and what a path the user chose (a directory to create a repository in,
 * SHOAL_CONFIG_DIR) can run into: said as the system says it, with the path. Only for such
 * paths: the same failure on a path of the repository's own (its packs gone) is an internal
 * error, and must stay one.
 */
export function pathError(err: unknown, path?: string): ShoalError | null {
  const known = systemError(err, path);
  if (known) return known;
  const { code, at } = failure(err, path);
  switch (code) {
    case 'ENOENT':
      return new ShoalError('NOT_FOUND', `no such file or directory${at}`);
    case 'ENOTDIR':
      return new ShoalError('NOT_FOUND', `not a directory (a file stands where one is needed)${at}`);
    case 'EISDIR':
      return new ShoalError('NOT_A_FILE', `is a directory${at}`);
    case 'ENAMETOOLONG':
      return new ShoalError('INVALID_NAME', `file name too long${at}`);
    case 'ELOOP':
      return new ShoalError('NOT_FOUND', `too many levels of symbolic links${at}`);
    default:
      return null;
  }
}

/** A system call's error code, and `: <path>` naming `path` (else the path it failed on). */
function failure(err: unknown, path: string | undefined): { code: unknown; at: string } {
  const e = err as { code?: unknown; path?: unknown } | null;
  const where = path ?? (typeof e?.path === 'string' ? e.path : undefined);
  return { code: e?.code, at: where ? `: ${where}` : '' };
}
