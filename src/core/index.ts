// Public surface of the pure core: ids, chunking, encodings, objects, signing, errors.
export * from './chunker.ts';
export * from './encoding.ts';
export * from './errors.ts';
export * from './file-index.ts';
export * from './id.ts';
export * from './objects.ts';
export * from './path-text.ts';
export * from './ref-names.ts';
export * from './repo-identity.ts';
export * from './signed-refs.ts';
export * from './signing.ts';
