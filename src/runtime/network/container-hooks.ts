/**
 * Networks for containers with a record (`run -d`, `create` and `start`): the monitor attaches
 * the container before each start of its process — its namespace, address, names, and the
 * published ports, whose proxies live in the monitor as long as the container runs — and
 * detaches it after each end. The foreground `run --rm` does the same itself (run.ts).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TsbuildError } from '../../common/index.js';
import type { Store } from '../../store/index.js';
import { registerContainerHooks } from '../container-hooks.js';
import { containerDirectory, containerNetworks, sharesNamespace, type ContainerLink, type ContainerRecord } from '../container.js';
import { findContainer, updateContainer } from '../container-store.js';
import { writeEtcFiles } from '../run.js';
import { attachContainer, detachContainer, joinAnotherNetwork } from './attach.js';
import { defaultNetworkName, listNetworks } from './state.js';
import { parseMacAddress, type PortSpec } from './address.js';
import { publishPorts, type PortProxies } from './ports.js';

/** docker's HostConfig.PortBindings for what was published: "80/tcp" → [{ HostIp, HostPort }]. */
function portBindings(ports: readonly PortSpec[]): Record<string, { HostIp: string; HostPort: string }[]> {
  const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const port of ports) (bindings[`${port.containerPort}/${port.protocol}`] ??= []).push({ HostIp: port.hostIp ?? '', HostPort: String(port.hostPort) });
  return bindings;
}

/**
 * `--link`'s /etc/hosts lines, as docker writes them on the default bridge (`IP\tALIAS
 * HOSTNAME NAME`): the linked container's address on a network the two share. On the default
 * bridge a linked container that does not run fails the start in docker's words; on a user
 * network, where docker's DNS answers the alias, one not there yet is passed over.
 */
async function linkHostsEntries(store: Store, record: ContainerRecord): Promise<string[]> {
  const links = record.hostConfig?.links ?? [];
  if (links.length === 0) return [];
  const joined = new Set(containerNetworks(record).map((network) => network.name));
  const shared = (await listNetworks(store)).filter((network) => joined.has(network.name));
  const entries: string[] = [];
  for (const link of links) {
    const target = await findContainer(store, link.container).catch(() => undefined);
    const address = target === undefined ? undefined : shared.map((network) => network.endpoints[target.id]?.address).find((found) => found !== undefined);
    if (address === undefined || target === undefined) {
      if (!joined.has(defaultNetworkName)) continue;
      throw new TsbuildError('RUNTIME', `Cannot link to a non running container: /${target?.name ?? link.container} AS /${record.name ?? record.id.slice(0, 12)}/${link.alias}`);
    }
    entries.push(`${address}\t${linkHostNames(link, target)}`);
  }
  return entries;
}

/** The names of a link's /etc/hosts line: its alias, then the linked container's hostname and name. */
function linkHostNames(link: ContainerLink, target: ContainerRecord | undefined): string {
  return [...new Set([link.alias, target?.config.hostname ?? '', target?.name ?? ''])].filter((name) => name !== '').join(' ');
}

/**
 * `rm --link` of a running container's link: its /etc/hosts loses the link's line at once, as
 * docker's daemon refreshes a running container's sandbox. The file is rewritten in place (the
 * container's bind mount keeps its inode); the container's own edits to other lines stay.
 */
export async function removeLinkHostsEntry(store: Store, record: ContainerRecord, link: ContainerLink): Promise<void> {
  const hosts = join(containerDirectory(store, record.id), 'hosts');
  const text = await readFile(hosts, 'utf8').catch(() => undefined);
  if (text === undefined) return;
  const target = await findContainer(store, link.container).catch(() => undefined);
  const names = linkHostNames(link, target);
  // By its names as written; a linked container since removed is known by its alias coming first.
  const isLink = (line: string): boolean => {
    const written = line.slice(line.indexOf('\t') + 1);
    return line.includes('\t') && (target === undefined ? written === link.alias || written.startsWith(`${link.alias} `) : written === names);
  };
  const lines = text.split('\n');
  const kept = lines.filter((line) => !isLink(line));
  if (kept.length < lines.length) await writeFile(hosts, kept.join('\n'));
}

/** Registers, in this process (a container's monitor), the hooks that attach STORE's containers to their networks. */
export function registerNetworkHooks(store: Store): void {
  const proxies = new Map<string, PortProxies>();
  registerContainerHooks({
    name: 'network',
    async prepare(record: ContainerRecord) {
      // Its networks as `network connect` and `disconnect` left them: none left is loopback alone, as docker's.
      const [first, ...others] = containerNetworks(record);
      const shared = sharesNamespace(record.config.network);
      const mac = record.config.macAddress === undefined ? undefined : parseMacAddress(record.config.macAddress);
      const attachment = await attachContainer(store, {
        containerId: record.id,
        ...(record.name === undefined ? {} : { name: record.name }),
        hostname: record.config.hostname,
        network: shared ? record.config.network : (first?.name ?? 'none'),
        // docker's start passes over aliases `network connect` recorded for the default bridge.
        aliases: first === undefined || (record.config.networks !== undefined && first.name === defaultNetworkName) ? [] : first.aliases,
        ...(record.hostConfig?.dns === undefined ? {} : { dns: record.hostConfig.dns }),
        ...(first?.ip === undefined ? {} : { ip: first.ip }),
        // docker 26 gives --mac-address to the endpoint of the network it was made on.
        ...(mac === undefined || first === undefined || shared ? {} : { mac }),
        ports: shared || first !== undefined ? (record.hostConfig?.publish ?? []) : [],
      });
      try {
        if (others.length > 0 && typeof attachment.namespace === 'object') {
          const namespace = attachment.namespace.path;
          for (const network of others) {
            await joinAnotherNetwork(store, network.name, { id: record.id, ...(record.name === undefined ? {} : { name: record.name }), aliases: network.name === defaultNetworkName ? [] : network.aliases, ...(network.ip === undefined ? {} : { ip: network.ip }) }, namespace);
          }
        }
        proxies.set(record.id, await publishPorts(attachment.ports));
        // The files the container's spec binds: their content now says where it is (and where its links are).
        const linked = await linkHostsEntries(store, record);
        await writeEtcFiles(containerDirectory(store, record.id), record.config.hostname, record.config.network, linked.length === 0 ? attachment : { ...attachment, hostsEntries: [...linked, ...attachment.hostsEntries] }, record.hostConfig ?? {});
        // Rootless, the user-mode stack forwards the ports: they are publishedPorts, with no proxy here.
        const published = [...attachment.ports, ...(attachment.publishedPorts ?? [])];
        if (published.length > 0) {
          await updateContainer(store, record.id, (current) => (current.hostConfig === undefined ? undefined : { ...current, hostConfig: { ...current.hostConfig, portBindings: portBindings(published) } }));
        }
      } catch (error) {
        await proxies.get(record.id)?.close();
        proxies.delete(record.id);
        await detachContainer(store, record.id);
        throw error;
      }
      if (typeof attachment.namespace === 'object') return { networkNamespace: attachment.namespace.path };
      // Taken off every network: loopback alone, whatever namespace its spec was made with.
      return !shared && first === undefined ? { loopbackOnly: true } : undefined;
    },
    async release(record: ContainerRecord) {
      await proxies.get(record.id)?.close();
      proxies.delete(record.id);
      await detachContainer(store, record.id);
    },
    async remove(record: ContainerRecord) {
      await detachContainer(store, record.id);
    },
  });
}
