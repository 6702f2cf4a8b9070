/**
 * A runtime's standard streams as pipes. Node makes a child's `pipe` streams socket pairs, and
 * the container's process inherits them: open(2) of a socket through /proc/self/fd fails with
 * ENXIO, so a build step's `echo … > /dev/stderr`, or an image whose logs are links to
 * /dev/stdout, failed where BuildKit's steps (go-runc's pipes) and docker's containers succeed.
 * The pipes come from tsbuild-fs; where it does not load, Node's socket pairs stay.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { closeSync } from 'node:fs';
import { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { loadFsAddon } from '../common/index.js';

/**
 * What one of the runtime's streams is: `empty` a pipe whose writing end is closed at once
 * (a build step's stdin, read as EOF, a pipe as BuildKit's is).
 */
export type StdioWish = 'ignore' | 'inherit' | 'pipe' | 'empty';

export interface StdioPipes {
  /** For spawn: a pipe's descriptor where a stream is piped. */
  readonly stdio: StdioOptions;
  /** This process's ends of the piped streams (stdin writable, stdout and stderr readable), or null. */
  readonly streams: readonly [Socket | null, Socket | null, Socket | null];
  /** Closes the child's ends here: once spawn has passed them on (or failed). */
  closeChildEnds(): void;
}

/** Pipes for the streams WISHES pipes, or undefined when tsbuild-fs does not load (Node's `pipe`s then). */
export function stdioPipes(wishes: readonly [StdioWish, StdioWish, StdioWish]): StdioPipes | undefined {
  const addon = loadFsAddon().module;
  if (addon === undefined) return undefined;
  const childEnds: number[] = [];
  const ownEnds: (number | undefined)[] = [];
  let stdio: StdioOptions;
  try {
    stdio = wishes.map((wish, index) => {
      if (wish !== 'pipe' && wish !== 'empty') return wish;
      const [read, write] = addon.pipe();
      const [child, own] = index === 0 ? [read, write] : [write, read];
      childEnds.push(child);
      if (wish === 'empty') closeSync(own);
      else ownEnds[index] = own;
      return child;
    });
  } catch (error) {
    for (const fd of [...childEnds, ...ownEnds]) if (fd !== undefined) closeSync(fd);
    throw error;
  }
  const stream = (index: number): Socket | null => {
    const fd = ownEnds[index];
    return fd === undefined ? null : new Socket({ fd, readable: index !== 0, writable: index === 0 });
  };
  return {
    stdio,
    streams: [stream(0), stream(1), stream(2)],
    closeChildEnds: () => {
      for (const fd of childEnds.splice(0)) closeSync(fd);
    },
  };
}

/** A runtime started by spawnPiped: its streams, whichever kind they are, and its end. */
export interface PipedChild {
  readonly child: ChildProcess;
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  /** LISTENER once the process has exited and its output streams are read to their end (Node's `close`). */
  onClose(listener: (code: number | null, signal: NodeJS.Signals | null) => void): void;
}

/** spawn with the streams WISHES pipes as pipes (stdioPipes), or as Node's socket pairs where they cannot be. */
export function spawnPiped(command: string, args: readonly string[], wishes: readonly [StdioWish, StdioWish, StdioWish], options: { readonly detached?: boolean } = {}): PipedChild {
  const pipes = stdioPipes(wishes);
  let child: ChildProcess;
  try {
    child = spawn(command, args, { stdio: pipes?.stdio ?? wishes.map((wish) => (wish === 'empty' ? 'ignore' : wish)), detached: options.detached === true });
  } finally {
    pipes?.closeChildEnds();
  }
  if (pipes === undefined) return { child, stdin: child.stdin, stdout: child.stdout, stderr: child.stderr, onClose: (listener) => child.on('close', listener) };
  const [stdin, stdout, stderr] = pipes.streams;
  // A runtime that did not start closes nothing of ours: its streams go with it.
  child.on('error', () => {
    for (const stream of pipes.streams) stream?.destroy();
  });
  // Node's `close` waits for the output streams it made; these are awaited here. Stdin, which
  // may still be taking input, goes with the process.
  const ended = Promise.all([stdout, stderr].map((stream) => (stream === null ? undefined : new Promise((settle) => stream.once('close', settle)))));
  return {
    child,
    stdin,
    stdout,
    stderr,
    onClose: (listener) =>
      child.on('exit', (code, signal) => {
        stdin?.destroy();
        void ended.then(() => listener(code, signal));
      }),
  };
}
