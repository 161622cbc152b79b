// Public surface of vcs: operations on a repository and its working tree. They return data
// and never print.
export * from './add.ts';
export * from './checkout.ts';
export * from './commit.ts';
export * from './content.ts';
export * from './fsck.ts';
export * from './ingest.ts';
export * from './log.ts';
export * from './progress.ts';
export * from './restore.ts';
export * from './rev.ts';
export * from './stats.ts';
export * from './status.ts';
export * from './trees.ts';
export * from './worktree.ts';
