/**
 * Networks for containers with a record (`run -d`, `create` and `start`): the monitor attaches
 * the container before each start of its process — its namespace, address, names, and the
 * published ports, whose proxies live in the monitor as long as the container runs — and
 * detaches it after each end. The foreground `run --rm` does the same itself (run.ts).
 */
import type { Store } from '../../store/index.js';
import { registerContainerHooks } from '../container-hooks.js';
import { containerDirectory, type ContainerRecord } from '../container.js';
import { updateContainer } from '../container-store.js';
import { writeEtcFiles } from '../run.js';
import { attachContainer, detachContainer } from './attach.js';
import type { PortSpec } from './address.js';
import { publishPorts, type PortProxies } from './ports.js';

/** docker's HostConfig.PortBindings for what was published: "80/tcp" → [{ HostIp, HostPort }]. */
function portBindings(ports: readonly PortSpec[]): Record<string, { HostIp: string; HostPort: string }[]> {
  const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const port of ports) (bindings[`${port.containerPort}/${port.protocol}`] ??= []).push({ HostIp: port.hostIp ?? '', HostPort: String(port.hostPort) });
  return bindings;
}

/** Registers, in this process (a container's monitor), the hooks that attach STORE's containers to their networks. */
export function registerNetworkHooks(store: Store): void {
  const proxies = new Map<string, PortProxies>();
  registerContainerHooks({
    name: 'network',
    async prepare(record: ContainerRecord) {
      const attachment = await attachContainer(store, {
        containerId: record.id,
        ...(record.name === undefined ? {} : { name: record.name }),
        hostname: record.config.hostname,
        network: record.config.network,
        aliases: record.config.networkAliases ?? [],
        ...(record.hostConfig?.dns === undefined ? {} : { dns: record.hostConfig.dns }),
        ...(record.config.ipAddress === undefined ? {} : { ip: record.config.ipAddress }),
        ports: record.hostConfig?.publish ?? [],
      });
      try {
        proxies.set(record.id, await publishPorts(attachment.ports));
        // The files the container's spec binds: their content now says where it is.
        await writeEtcFiles(containerDirectory(store, record.id), record.config.hostname, record.config.network, attachment, record.hostConfig ?? {});
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
      return typeof attachment.namespace === 'object' ? { networkNamespace: attachment.namespace.path } : undefined;
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
