import { TsbuildError } from './errors.js';

/** A size as docker's --keep-storage reads it (go-units RAMInBytes: 1k = 1024): `512m`, `10GB`, `1.5g`, `2048`. */
export function parseByteSize(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?\s*$/i.exec(text);
  if (match === null) throw new TsbuildError('INVALID_ARGUMENT', `parse size ${JSON.stringify(text)}: use a number of bytes, or one with k, m, g or t`);
  const power = ['', 'k', 'm', 'g', 't', 'p'].indexOf((match[2] ?? '').toLowerCase());
  return Math.floor(Number(match[1]) * 1024 ** power);
}
