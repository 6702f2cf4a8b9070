import { createInterface } from 'node:readline';
import type { CliIo } from './io.js';

/**
 * Whether the first line of standard input says yes (`y` or `yes`, any case), as docker's prune
 * prompts read it; no line at all is a no. The prompt itself is the caller's to write.
 */
export async function answeredYes(): Promise<boolean> {
  const lines = createInterface({ input: process.stdin, terminal: false });
  try {
    for await (const line of lines) return /^y(es)?$/i.test(line.trim());
    return false;
  } finally {
    lines.close();
  }
}

/**
 * docker's prune prompt: the warning and the question on standard output, then the answer from
 * standard input (a non-terminal one is read too, as docker does).
 */
export async function confirmRemoval(io: CliIo, what: string): Promise<boolean> {
  io.stdout.write(`${confirmationQuestion(what)} `);
  return answeredYes();
}

export function confirmationQuestion(what: string): string {
  return `WARNING! This will remove ${what}.\nAre you sure you want to continue? [y/N]`;
}
