/**
 * The /etc/resolv.conf a RUN sees, as BuildKit 0.13 makes it (executor/oci's GetResolvConf with
 * the resolvconf package of docker 25 it builds with): the host's file (systemd-resolved's own
 * when the host's names its stub alone), given as it is to a step on the host's network that
 * asked for it, and otherwise without loopback nameservers, which a sandbox with its own network
 * cannot reach; a file left with no nameserver gets Google's public ones.
 */
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';

const hostPath = '/etc/resolv.conf';
/** systemd-resolved's list of the real upstream servers, behind its 127.0.0.53 stub. */
const resolvedPath = '/run/systemd/resolve/resolv.conf';

/** docker's localhostNSRegexp: a nameserver line of 127.x.x.x or ::1, with the blank lines after it. */
const localhostNameserver = /^nameserver\s+((127\.([0-9]{1,3}\.){2}[0-9]{1,3})|(::1)$)\s*\n*/gm;
const defaultNameservers = ['nameserver 8.8.8.8', 'nameserver 8.8.4.4', 'nameserver 2001:4860:4860::8888', 'nameserver 2001:4860:4860::8844'];

/** docker's GetNameservers: the addresses of the nameserver lines, comments left out. */
export function nameservers(content: string): string[] {
  const found: string[] = [];
  for (const raw of content.split('\n')) {
    const line = raw.replace(/[#;].*$/, '');
    const match = /^\s*nameserver\s*(\S+)\s*$/.exec(line);
    if (match?.[1] !== undefined && isIP(match[1]) !== 0) found.push(match[1]);
  }
  return found;
}

/** docker's FilterResolvDNS with IPv6 enabled, as BuildKit calls it. */
export function withoutLoopbackNameservers(content: string): string {
  const cleaned = content.replace(localhostNameserver, '');
  if (nameservers(cleaned).length > 0) return cleaned;
  return `${cleaned}\n${defaultNameservers.join('\n')}`;
}

/** docker's resolvconf.Path: the host's file, or systemd-resolved's when the host's names only its stub. */
async function hostResolvConf(paths: ResolvConfPaths): Promise<string> {
  const content = await readFile(paths.host, 'utf8').catch(() => '');
  const servers = nameservers(content);
  if (servers.length === 1 && servers[0] === '127.0.0.53') {
    const upstream = await readFile(paths.resolved, 'utf8').catch(() => undefined);
    if (upstream !== undefined) return upstream;
  }
  return content;
}

export interface ResolvConfPaths {
  readonly host: string;
  readonly resolved: string;
}

/** Both files BuildKit keeps: for steps on the host's network that asked for it, and for every other step. */
export async function sandboxResolvConfs(paths: ResolvConfPaths = { host: hostPath, resolved: resolvedPath }): Promise<{ host: string; other: string }> {
  const content = await hostResolvConf(paths);
  return { host: nameservers(content).length === 0 ? withoutLoopbackNameservers(content) : content, other: withoutLoopbackNameservers(content) };
}
