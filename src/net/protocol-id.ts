// Versioned libp2p protocol ids for shoal's wire protocols: `/shoal/<name>/<major>`. A new major
// is a new protocol id; peers negotiate it with multistream-select and never guess.

import { ShoalError } from '../core/errors.ts';

const NAME = /^[a-z][a-z0-9-]{0,31}$/;
const ID = /^\/shoal\/([a-z][a-z0-9-]{0,31})\/(0|[1-9][0-9]{0,5})$/;

export interface ProtocolIdParts {
  name: string;
  major: number;
}

/** Builds `/shoal/<name>/<major>`; name is lowercase kebab-case, major a non-negative integer. */
export function protocolId(name: string, major: number): string {
  if (!NAME.test(name)) {
    throw new ShoalError('INVALID_ARGUMENT', `invalid protocol name: ${JSON.stringify(name)}`);
  }
  if (!Number.isSafeInteger(major) || major < 0 || major > 999_999) {
    throw new ShoalError('INVALID_ARGUMENT', `invalid protocol major version: ${major}`);
  }
  return `/shoal/${name}/${major}`;
}

/** Parses a shoal protocol id, or returns undefined when it is not one. */
export function parseProtocolId(id: string): ProtocolIdParts | undefined {
  const m = ID.exec(id);
  if (m === null) return undefined;
  return { name: m[1]!, major: Number(m[2]) };
}
