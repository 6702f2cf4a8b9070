/**
 * `network create -o KEY=VALUE`: the driver options of docker's bridge driver (libnetwork's
 * drivers/bridge), read with its rules and refused in its words. A key the driver does not know
 * is kept and shown, and changes nothing, as docker's does.
 */
import { isIPv4 } from 'node:net';
import { TsbuildError } from '../../common/index.js';

export const bridgeOptionKeys = {
  name: 'com.docker.network.bridge.name',
  mtu: 'com.docker.network.driver.mtu',
  icc: 'com.docker.network.bridge.enable_icc',
  masquerade: 'com.docker.network.bridge.enable_ip_masquerade',
  hostBinding: 'com.docker.network.bridge.host_binding_ipv4',
  ipv6: 'com.docker.network.enable_ipv6',
} as const;

/** What a network's options ask of its bridge. */
export interface BridgeSettings {
  /** The MTU of the bridge and of its containers' interfaces; the kernel's default when absent. */
  readonly mtu?: number;
  /** Whether containers on the network reach each other (docker's inter-container communication). */
  readonly icc: boolean;
  /** Whether the network's outbound traffic is masqueraded behind the host's address. */
  readonly masquerade: boolean;
  /** The host address a port published without one binds to (all of the host's when absent). */
  readonly hostBindingIpv4?: string;
  /** `com.docker.network.bridge.name`: the Linux bridge's name, instead of `tsb-` and the ID's start. */
  readonly bridgeName?: string;
}

/** The prefix of the bridges (and `tsbv` of the veths) tsbuild names itself. */
export const ownBridgePrefix = 'tsb';

function parseError(key: string, value: string, why: string): TsbuildError {
  return new TsbuildError('INVALID_ARGUMENT', `failed to parse ${key} value: ${value} (${why})`);
}

/** Go's strconv.ParseBool. */
function parseBool(key: string, value: string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
  throw parseError(key, value, `strconv.ParseBool: parsing ${JSON.stringify(value)}: invalid syntax`);
}

/** Go's strconv.Atoi, within the MTUs a Linux interface takes. */
function parseMtu(key: string, value: string): number | undefined {
  if (!/^[+-]?\d+$/.test(value)) throw parseError(key, value, `strconv.Atoi: parsing ${JSON.stringify(value)}: invalid syntax`);
  const mtu = Number(value);
  if (!Number.isSafeInteger(mtu)) throw parseError(key, value, `strconv.Atoi: parsing ${JSON.stringify(value)}: value out of range`);
  if (mtu < 0) throw new TsbuildError('INVALID_ARGUMENT', `invalid MTU number: ${mtu}`);
  if (mtu === 0) return undefined;
  // The kernel's bounds for an Ethernet-like link carrying IPv4: refused here rather than by `ip` once a container starts.
  if (mtu < 68 || mtu > 65535) throw new TsbuildError('INVALID_ARGUMENT', `invalid MTU number: ${mtu}: the kernel takes 68 to 65535`);
  return mtu;
}

/** The settings OPTIONS give (none: docker's defaults); an option that cannot be honoured is an error. */
export function bridgeSettings(options: Readonly<Record<string, string>> | undefined): BridgeSettings {
  const settings: { mtu?: number; icc: boolean; masquerade: boolean; hostBindingIpv4?: string; bridgeName?: string } = { icc: true, masquerade: true };
  for (const [key, value] of Object.entries(options ?? {})) {
    switch (key) {
      case bridgeOptionKeys.mtu: {
        const mtu = parseMtu(key, value);
        if (mtu === undefined) delete settings.mtu;
        else settings.mtu = mtu;
        break;
      }
      case bridgeOptionKeys.icc:
        settings.icc = parseBool(key, value);
        break;
      case bridgeOptionKeys.masquerade:
        settings.masquerade = parseBool(key, value);
        break;
      case bridgeOptionKeys.hostBinding:
        if (!isIPv4(value)) throw parseError(key, value, 'nil ip');
        if (value !== '0.0.0.0') settings.hostBindingIpv4 = value;
        break;
      case bridgeOptionKeys.ipv6:
        if (parseBool(key, value)) throw new TsbuildError('INVALID_ARGUMENT', `${key}: tsbuild's networks are IPv4 only`);
        break;
      case bridgeOptionKeys.name:
        // A Linux interface name (IFNAMSIZ less its NUL), in the characters `ip` and iptables take as they are.
        if (!/^[A-Za-z0-9_.-]{1,15}$/.test(value) || value === '.' || value === '..') {
          throw new TsbuildError('INVALID_ARGUMENT', `${key}: ${JSON.stringify(value)} is not an interface name (1 to 15 letters, digits, '.', '_' or '-')`);
        }
        if (value.startsWith(ownBridgePrefix)) throw new TsbuildError('INVALID_ARGUMENT', `${key}: ${JSON.stringify(value)}: names starting ${ownBridgePrefix} are those tsbuild gives its own links`);
        settings.bridgeName = value;
        break;
      default:
        break;
    }
  }
  return settings;
}
