import { describe, expect, it } from 'vitest';
import { topTable } from '../../src/cli/format.js';

describe('top', () => {
  it("writes ps's output as docker 26's top: columns of 20 at least, padded by three, CMD kept whole", () => {
    // `docker top` of `sleep 300` and a shell, from docker 26.1.
    const ps = 'UID        PID  PPID  C STIME TTY          TIME CMD\nroot     20634 20633  0 06:48 ?        00:00:00 sleep 300\nroot     20700 20634  0 06:49 ?        00:00:00 sh -c echo a  b\n';
    expect(topTable(ps)).toBe(
      [
        'UID                 PID                 PPID                C                   STIME               TTY                 TIME                CMD',
        'root                20634               20633               0                   06:48               ?                   00:00:00            sleep 300',
        'root                20700               20634               0                   06:49               ?                   00:00:00            sh -c echo a b',
        '',
      ].join('\n'),
    );
  });

  it('widens a column past 20 for a longer value', () => {
    const user = 'a-very-long-user-name-here';
    expect(topTable(`USER PID COMMAND\n${user} 1 init\n`)).toBe(`${'USER'.padEnd(user.length + 3)}${'PID'.padEnd(20)}COMMAND\n${user}   ${'1'.padEnd(20)}init\n`);
  });
});
