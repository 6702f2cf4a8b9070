import { createInterface } from 'node:readline';

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
