// Public surface of the store: one repository on disk.
export {
  indexFailure,
  indexProblems,
  outsideRead,
  readSnapshot,
  readTransaction,
  transaction,
} from './db.ts';
export * from './dirs.ts';
export { type AppenderOptions, FileAppender } from './file-appender.ts';
export * from './gc.ts';
export * from './identity.ts';
export * from './known-peers.ts';
export { processAlive } from './lock.ts';
export type { Compression, ObjectInfo, PackSession } from './object-store.ts';
export { ObjectStore } from './object-store.ts';
export type { StoredType } from './pack.ts';
export * from './refs.ts';
export {
  namesRepoDir,
  REPO_DIR,
  Repository,
  refuseInsideRepoDir,
  repoConfigFile,
  UNFINISHED_INDEX,
  unfinishedInit,
} from './repository.ts';
export * from './shares.ts';
export * from './signed-refs-store.ts';
export * from './staging.ts';
