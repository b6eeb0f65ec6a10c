/**
 * @module A guest's NICs on the host side: their names (after the network and the
 * guest's id, so a sweep after a crash knows what is Lodge's); for containers the veth
 * pair whose guest end is moved into the container's network namespace and configured
 * there with the address the plan gave it; for engines (QEMU, UML) a tap device each,
 * whose guest asks dnsmasq for that address by DHCP.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createTap, createVethInto, deleteLink, ipBatchIn } from '../host/net.js';

/** One NIC as a driver needs it. */
export interface GuestNic {
  /** Inside the guest: eth0, eth1, ... */
  name: string;
  network: string;
  bridge: string;
  hostDevice: string;
  mac: string;
  /** With its prefix length, e.g. 10.20.0.5/24. */
  address: string;
  gateway: string;
}

/** Interface names hold 15 characters: "lb-" leaves 12 for the network's name. */
export const maxNetworkNameLength = 12;
export const bridgeName = (network: string) => `lb-${network}`;
export const bridgePrefix = 'lb-';
/** A Linux bridge numbers its ports 1 to 1023 (BR_MAX_PORTS is 1024, port 0 is never used). */
export const maxBridgePorts = 1023;

/** "lv" + the lodged instance + the guest id in base 36 + "x" + the NIC's index: at most 15 characters below 1.6 million guests. */
export const hostDeviceName = (instance: string, guestId: number, index: number) => `lv${instance}${guestId.toString(36)}x${index}`;
export const hostDevicePrefix = (instance: string) => `lv${instance}`;

const localMac = (bytes: Buffer) => ['02', ...[...bytes.subarray(0, 5)].map((b) => b.toString(16).padStart(2, '0'))].join(':');

/** A locally administered unicast MAC (02:...), random; kept for the guest's life. */
export const randomMac = () => localMac(randomBytes(5));

/** The bridge's MAC, the same at every start: derived from the network's name. */
export const bridgeMac = (network: string) => localMac(createHash('sha256').update(`lodge-bridge:${network}`).digest());

/** LODGE_NICn=ADDRESS/PREFIX,GATEWAY on a kernel command line: what images without a DHCP client (debian/12) configure their NICs from. */
export const nicWords = (nics: ReadonlyArray<{ address: string; gateway: string }>) => nics.map((n, k) => `LODGE_NIC${k}=${n.address},${n.gateway}`);

/** Plugs a container's NICs: a veth pair each, its guest end named, addressed and up; the first one routes. Two processes, however many NICs share the batch. */
export async function attachContainerNics(pid: number, nics: readonly GuestNic[]): Promise<void> {
  for (const nic of nics) await createVethInto(nic.hostDevice, nic.name, nic.mac, nic.bridge, pid);
  await ipBatchIn(
    pid,
    nics.flatMap((nic, i) => [
      // Lodge's networks are IPv4: without a link-local address the NIC sends no IPv6 duplicate-address and router
      // probes, which the bridge would flood to every other guest on it (at a thousand guests, most of a launch's CPU)
      ['link', 'set', nic.name, 'addrgenmode', 'none'],
      ['addr', 'add', nic.address, 'dev', nic.name],
      ['link', 'set', nic.name, 'up'],
      ...(i === 0 ? [['route', 'add', 'default', 'via', nic.gateway]] : []),
    ]),
  );
}

/** Taps for an engine that runs as `owner`; if one cannot be made, none is left. */
export async function createTaps(nics: readonly GuestNic[], owner: number): Promise<void> {
  try {
    for (const nic of nics) await createTap(nic.hostDevice, owner, nic.bridge);
  } catch (e) {
    await removeHostDevices(nics);
    throw e;
  }
}

/** The host ends of a guest's NICs (a container's veths die with its namespace; taps stay until removed). */
export async function removeHostDevices(nics: readonly GuestNic[]): Promise<void> {
  for (const nic of nics) await deleteLink(nic.hostDevice);
}
