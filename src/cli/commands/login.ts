import type { Command } from 'commander';
import { TsbuildError } from '../../common/index.js';
import { login } from '../../registry/index.js';
import { ExitError, type CliIo } from '../io.js';
import { collect, serverDomain } from './registry-options.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/**
 * Asks on the terminal, as docker login does: the answer is echoed for the user name, not for
 * the password. Raw mode lets Ctrl-C end the command and Backspace edit the answer.
 */
function ask(io: CliIo, question: string, options: { readonly hidden: boolean }): Promise<string> {
  const input = process.stdin;
  if (input.isTTY !== true) {
    return Promise.reject(new TsbuildError('INVALID_ARGUMENT', 'log in: no terminal to ask on; give --username and --password-stdin'));
  }
  // Raw mode (no echo) before the question: whoever answers as soon as it appears must not
  // have the password echoed by a terminal still in cooked mode.
  input.setRawMode(true);
  io.stderr.write(question);
  input.resume();
  return new Promise((resolve, reject) => {
    let answer = '';
    const finish = (): void => {
      input.off('data', onData);
      input.setRawMode(false);
      input.pause();
      io.stderr.write('\n');
    };
    const onData = (chunk: Buffer): void => {
      for (const character of chunk.toString('utf8')) {
        if (character === '\r' || character === '\n') {
          finish();
          resolve(answer);
          return;
        }
        if (character === '\u0003') {
          finish();
          reject(new ExitError(130));
          return;
        }
        if (character === '\u007f' || character === '\b') {
          if (answer.length > 0 && !options.hidden) io.stderr.write('\b \b');
          answer = answer.slice(0, -1);
        } else if (character >= ' ') {
          answer += character;
          if (!options.hidden) io.stderr.write(character);
        }
      }
    };
    input.on('data', onData);
  });
}

export function registerLogin(program: Command, io: CliIo): void {
  program
    .command('login')
    .description('log in to a registry, saving the credentials in ~/.docker/config.json or its credential helper')
    .argument('[server]', 'registry host (default docker.io)')
    .option('-u, --username <name>', 'user name')
    .option('-p, --password <password>', 'password (prefer --password-stdin)')
    .option('--password-stdin', 'read the password from standard input')
    .option('--insecure-registry <host>', 'allow plain HTTP or unverified TLS to this registry (repeatable)', collect, [])
    .action(async (server: string | undefined, options: { username?: string; password?: string; passwordStdin?: boolean; insecureRegistry: string[] }) => {
      const domain = serverDomain(server);
      if (options.password !== undefined && options.passwordStdin === true) throw new TsbuildError('INVALID_ARGUMENT', 'log in: --password and --password-stdin exclude each other');
      if (options.passwordStdin === true && (options.username === undefined || options.username === '')) {
        throw new TsbuildError('INVALID_ARGUMENT', 'log in: --password-stdin needs --username');
      }
      const username = options.username !== undefined && options.username !== '' ? options.username : await ask(io, 'Username: ', { hidden: false });
      if (username === '') throw new TsbuildError('INVALID_ARGUMENT', 'log in: empty user name');
      const password = options.passwordStdin === true ? await readStdin() : (options.password ?? (await ask(io, 'Password: ', { hidden: true })));
      if (password === '') throw new TsbuildError('INVALID_ARGUMENT', 'log in: empty password');
      if (options.password !== undefined) io.stderr.write('warning: a password on the command line can be read by other users; use --password-stdin\n');
      const saved = await login({ domain, username, password, client: { insecureRegistries: options.insecureRegistry } });
      if (saved.helper === undefined) {
        io.stderr.write(`warning: the password is stored unencrypted (base64 only) in ${saved.path}; a credential helper would keep it out of the file\n`);
      }
      io.stdout.write(saved.helper === undefined ? `Login Succeeded (credentials saved in ${saved.path})\n` : `Login Succeeded (credentials saved by docker-credential-${saved.helper})\n`);
    });
}
