/**
 * @module Networks: create, list and delete them, and give guests their NICs. A network
 * is a bridge on the host holding the subnet's first address, an address plan in SQLite
 * and a dnsmasq answering the guests' DHCP and DNS. What is on the host is made again
 * from the database when lodged starts, and what the database no longer knows is removed.
 */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { LodgeError } from '../api/errors.js';
import type { Forward, ForwardPost, Network, NetworksPost, Nic, NicRequest } from '../api/networks.js';
import { createBridge, deleteLink, linkOwner, linksWithPrefix, openTunDevice, portListener, routeDestinations, setMasters } from '../host/net.js';
import { stopDnsmasq, syncDnsmasq } from '../network/dnsmasq.js';
import { applyFirewall, firewallRules, firewallTable, nicElements, type FirewallNic } from '../network/firewall.js';
import { FirewallWriter } from '../network/firewall-writer.js';
import { formatIp, formatSubnet, freeSubnet, gateway, guestRange, isGuestAddress, netmask, nextFree, overlaps, parseIp, parseSubnet, type Subnet } from '../network/ipam.js';
import { bridgeMac, bridgeName, bridgePrefix, hostDeviceName, hostDevicePrefix, maxBridgePorts, maxNetworkNameLength, randomMac, type GuestNic } from '../network/nic.js';
import type { Events } from './events.js';
import { KeyedLock } from './locks.js';
import type { NetworkRecord, NicRecord, Store } from './store.js';

export interface NetworkServiceDeps {
  store: Store;
  events: Events;
  /** Each network's dnsmasq files live in a directory of its own here. */
  dir: string;
  log: (message: string) => void;
  /**
   * Set when lodged runs with --uplink: NAT networks then route their guests out through
   * the host (masqueraded) and their dnsmasq forwards names it does not know to the
   * resolvers in this file. Unset, every network reaches the host and its own guests only.
   */
  uplink?: { resolvConf: string };
}

const bad = (message: string) => new LodgeError('BAD_REQUEST', message);

export const defaultNetwork = 'default';

export class NetworkService {
  private readonly deps: NetworkServiceDeps;
  private readonly lock = new KeyedLock();
  /** Networks whose delete is under way: a launch may not plan a NIC on one. */
  private readonly deleting = new Set<string>();
  private readonly firewall: FirewallWriter;

  constructor(deps: NetworkServiceDeps) {
    this.deps = deps;
    this.firewall = new FirewallWriter(applyFirewall, () => this.wholeRuleset(), deps.log);
  }

  /** The alias of this lodged's bridges. */
  private owner(): string {
    return `lodge:${this.deps.store.instance}`;
  }

  private record(name: string): NetworkRecord {
    const n = this.deps.store.network(name);
    if (!n) throw new LodgeError('NOT_FOUND', `network ${name} not found (lodge network list shows what there is)`);
    return n;
  }

  private toApi(n: NetworkRecord): Network {
    const subnet = parseSubnet(n.subnet);
    const guests = [...new Set(this.deps.store.nics({ network: n.name }).map((x) => x.guest))];
    return { name: n.name, subnet: n.subnet, gateway: formatIp(gateway(subnet)), bridge: n.bridge, nat: n.nat, uplink: this.reachesUplink(n), guests, createdAt: n.createdAt };
  }

  private reachesUplink(n: NetworkRecord): boolean {
    return n.nat && this.deps.uplink !== undefined;
  }

  list(): Network[] {
    return this.deps.store.networks().map((n) => this.toApi(n));
  }

  get(name: string): Network {
    return this.toApi(this.record(name));
  }

  /** The host's routes and Lodge's networks: what a new subnet may not overlap. */
  private async taken(): Promise<Array<{ subnet: Subnet; what: string }>> {
    const routes = (await routeDestinations())
      .filter((d) => d !== 'default')
      .map((d) => (d.includes('/') ? d : `${d}/32`))
      .flatMap((d) => {
        const [ip, prefix] = d.split('/');
        const base = parseIp(ip!);
        return base === undefined ? [] : [{ subnet: { base, prefix: Number(prefix) }, what: `the host's route to ${d}` }];
      });
    const networks = this.deps.store.networks().map((n) => ({ subnet: parseSubnet(n.subnet), what: `network ${n.name} (${n.subnet})` }));
    return [...networks, ...routes];
  }

  async create(req: NetworksPost): Promise<Network> {
    if (req.name.length > maxNetworkNameLength) {
      throw bad(`name: "${req.name}" is ${req.name.length} characters; a network's bridge is named ${bridgeName('NAME')} and interface names hold 15, so at most ${maxNetworkNameLength}`);
    }
    return this.lock.with(`network:${req.name}`, async () => {
      if (this.deps.store.network(req.name)) throw new LodgeError('CONFLICT', `a network named ${req.name} exists already`);
      const taken = await this.taken();
      let subnet: Subnet;
      if (req.subnet !== undefined) {
        try {
          subnet = parseSubnet(req.subnet);
        } catch (e) {
          throw bad((e as Error).message);
        }
        const clash = taken.find((t) => overlaps(t.subnet, subnet));
        if (clash) throw new LodgeError('CONFLICT', `subnet: ${req.subnet} overlaps ${clash.what}`);
      } else {
        const free = freeSubnet(taken.map((t) => t.subnet), Math.floor(Math.random() * 65536));
        if (!free) throw new LodgeError('CONFLICT', 'subnet: no free /24 is left in 10.0.0.0/8; give one with --subnet');
        subnet = free;
      }
      const record = { name: req.name, subnet: formatSubnet(subnet), nat: !req.isolated, bridge: await this.freeBridge(req.name), createdAt: new Date().toISOString() };
      this.deps.store.insertNetwork(record);
      try {
        await this.bringUp(record);
      } catch (e) {
        await this.tearDown(record);
        this.deps.store.deleteNetwork(record.name);
        throw new LodgeError('ENGINE_FAILED', `creating network ${req.name} failed: ${(e as Error).message}`, { cause: e });
      }
      await this.syncFirewall();
      this.deps.events.emit('lifecycle', req.name, 'network-created');
      return this.toApi(record);
    });
  }

  /**
   * lb-NAME, unless the host has that link and it is not this lodged's (another lodged's network
   * of the same name, or a bridge of the host's own): then a name with this lodged's instance in it.
   */
  private async freeBridge(name: string): Promise<string> {
    // free: no other network of this lodged has it, and the host has no such link or this lodged's own (a crash's leftover)
    const taken = new Set(this.deps.store.networks().map((n) => n.bridge));
    const mine = async (bridge: string) => !taken.has(bridge) && [undefined, this.owner()].includes(await linkOwner(bridge));
    const preferred = bridgeName(name);
    if (await mine(preferred)) return preferred;
    const instance = this.deps.store.instance;
    const qualified = bridgeName(`${name.slice(0, maxNetworkNameLength - instance.length - 1)}-${instance}`);
    if (await mine(qualified)) {
      this.deps.log(`network ${name}: ${preferred} is not this lodged's (another lodged on this host has a network of that name?): its bridge is ${qualified}`);
      return qualified;
    }
    throw new LodgeError('CONFLICT', `name: the bridges ${preferred} and ${qualified} are taken (by another network, or on the host by another lodged); choose another name`);
  }

  private dnsmasqNetwork(n: NetworkRecord) {
    const s = parseSubnet(n.subnet);
    const range = guestRange(s);
    return {
      bridge: n.bridge,
      gateway: formatIp(gateway(s)),
      firstAddress: formatIp(range.first),
      lastAddress: formatIp(range.last),
      netmask: netmask(s),
      dir: path.join(this.deps.dir, n.name),
      ...(this.reachesUplink(n) ? { upstream: this.deps.uplink!.resolvConf } : {}),
    };
  }

  /** The bridge with its address, and dnsmasq with the guests the plan has. */
  private async bringUp(n: NetworkRecord): Promise<void> {
    const s = parseSubnet(n.subnet);
    // the MAC's seed is the bridge's name without lb-: the network's name for the usual lb-NAME, as it always was
    await createBridge(n.bridge, `${formatIp(gateway(s))}/${s.prefix}`, bridgeMac(n.bridge.slice(bridgePrefix.length)), this.owner());
    await this.syncDns(n.name);
  }

  private async tearDown(n: NetworkRecord): Promise<void> {
    await stopDnsmasq(path.join(this.deps.dir, n.name));
    if ((await linkOwner(n.bridge)) === this.owner()) await deleteLink(n.bridge);
    await rm(path.join(this.deps.dir, n.name), { recursive: true, force: true });
  }

  /**
   * Tells the network's dnsmasq which guests it has now. One at a time per network, each
   * reading the database when its turn comes: two that overlapped could otherwise write
   * the older list last (a name of a guest deleted meanwhile, left behind).
   */
  syncDns(network: string): Promise<void> {
    return this.lock.with(`dns:${network}`, async () => {
      const n = this.deps.store.network(network);
      if (!n) return;
      await mkdir(this.deps.dir, { recursive: true });
      const hosts = this.deps.store.nics({ network }).map((x) => ({ name: x.guest, mac: x.mac, address: x.address }));
      await syncDnsmasq(this.dnsmasqNetwork(n), hosts);
    });
  }

  async delete(name: string): Promise<void> {
    await this.lock.with(`network:${name}`, async () => {
      const n = this.record(name);
      const users = [...new Set(this.deps.store.nics({ network: name }).map((x) => x.guest))];
      if (users.length > 0) throw new LodgeError('CONFLICT', `cannot delete network ${name}: guests use it (${users.join(', ')})`);
      // marked in the tick that found it unused: no launch plans a NIC on it from here on
      this.deleting.add(name);
      try {
        await this.tearDown(n);
        this.deps.store.deleteNetwork(name);
      } finally {
        this.deleting.delete(name);
      }
      await this.syncFirewall();
      this.deps.events.emit('lifecycle', name, 'network-deleted');
    });
  }

  /** Makes the network "default" on the first start only: one the administrator deleted stays deleted. */
  async ensureDefault(): Promise<void> {
    if (this.deps.store.metaValue('default-network')) return;
    if (!this.deps.store.network(defaultNetwork)) {
      const n = await this.create({ name: defaultNetwork });
      this.deps.log(`created the network ${n.name}: ${n.subnet} on bridge ${n.bridge} (no host route overlaps it)`);
    }
    this.deps.store.setMeta('default-network', 'created');
  }

  /** What a launch that names no network gets: a NIC on the default network, if there is one. */
  defaultRequests(): NicRequest[] {
    return this.deps.store.network(defaultNetwork) ? [{ network: defaultNetwork }] : [];
  }

  /**
   * Checks what a launch asks for and picks each NIC's address and MAC, without storing
   * anything: the caller stores the plan with the guest's row, in the same tick.
   */
  plan(requests: readonly NicRequest[]): Array<Omit<NicRecord, 'guestId'>> {
    const chosen = new Map<string, Set<number>>();
    return requests.map((req, index) => {
      const n = this.deps.store.network(req.network);
      if (!n) throw new LodgeError('NOT_FOUND', `networks[${index}]: network ${req.network} not found (lodge network list shows what there is)`);
      if (this.deleting.has(n.name)) throw new LodgeError('CONFLICT', `networks[${index}]: network ${n.name} is being deleted`);
      const s = parseSubnet(n.subnet);
      const used = chosen.get(n.name) ?? new Set(this.deps.store.nics({ network: n.name }).map((x) => parseIp(x.address)!));
      chosen.set(n.name, used);
      if (used.size >= maxBridgePorts) {
        throw new LodgeError('CONFLICT', `networks[${index}]: network ${n.name} has ${used.size} NICs, the most its bridge takes (a Linux bridge has ${maxBridgePorts} ports); put more guests on another network (lodge network create)`);
      }
      let ip: number | undefined;
      if (req.address !== undefined) {
        ip = parseIp(req.address);
        if (ip === undefined || !isGuestAddress(s, ip)) throw bad(`networks[${index}].address: ${req.address} is not a guest address in ${n.subnet} (the first is the bridge's)`);
        if (used.has(ip)) throw new LodgeError('CONFLICT', `networks[${index}].address: ${req.address} is taken on network ${n.name}`);
      } else {
        ip = nextFree(s, used);
        if (ip === undefined) throw new LodgeError('CONFLICT', `networks[${index}]: network ${n.name} (${n.subnet}) has no free address left`);
      }
      used.add(ip);
      return { index, network: n.name, mac: randomMac(), address: formatIp(ip) };
    });
  }

  /** A guest's NICs as its driver needs them, with the network each is on. */
  guestNics(guestId: number): GuestNic[] {
    return this.deps.store.nics({ guestId }).map((x) => {
      const n = this.record(x.network);
      const s = parseSubnet(n.subnet);
      return {
        name: `eth${x.index}`,
        network: x.network,
        bridge: n.bridge,
        hostDevice: hostDeviceName(this.deps.store.instance, guestId, x.index),
        mac: x.mac,
        address: `${x.address}/${s.prefix}`,
        gateway: formatIp(gateway(s)),
      };
    });
  }

  apiNics(guestId: number): Nic[] {
    return this.guestNics(guestId).map(({ name, network, mac, address, hostDevice }) => ({ name, network, mac, address, hostDevice }));
  }

  /**
   * At start: every network's bridge and dnsmasq as the database has them; its own bridges
   * of networks it no longer has, and host ends of NICs of guests it no longer has, removed.
   */
  async restore(): Promise<void> {
    const changed = await openTunDevice();
    if (changed) this.deps.log(changed);
    const bridges = new Set(this.deps.store.networks().map((n) => n.bridge));
    for (const bridge of await linksWithPrefix(bridgePrefix, this.owner())) {
      if (!bridges.has(bridge)) {
        this.deps.log(`removing bridge ${bridge}: no such network`);
        await stopDnsmasq(path.join(this.deps.dir, bridge.slice(bridgePrefix.length)));
        await deleteLink(bridge);
      }
    }
    const known = new Set(this.allNics().map((n) => n.hostDevice));
    const devices = new Set<string>();
    for (const dev of await linksWithPrefix(hostDevicePrefix(this.deps.store.instance))) {
      if (known.has(dev)) {
        devices.add(dev);
      } else {
        this.deps.log(`removing ${dev}: its guest is gone`);
        await deleteLink(dev);
      }
    }
    for (const n of this.deps.store.networks()) {
      try {
        await this.bringUp(n);
      } catch (e) {
        // another lodged's, or the host's: never taken over; this network's guests stay off it until it is free
        this.deps.log(`network ${n.name} is down: ${(e as Error).message}`);
        continue;
      }
      // a bridge made again (deleted by hand, or by a crash) has lost its ports: the NICs of guests that still run go back on it
      const ports = this.deps.store
        .nics({ network: n.name })
        .map((x) => ({ device: hostDeviceName(this.deps.store.instance, x.guestId, x.index), bridge: n.bridge }))
        .filter((p) => devices.has(p.device));
      await setMasters(ports).catch((e: Error) => this.deps.log(`network ${n.name}: putting its guests' NICs back on ${n.bridge} failed: ${e.message}`));
    }
    await this.syncFirewall();
  }

  /** Every guest's NICs by guest id, as the guest names them and with their host ends: one query a network, not one a guest. */
  nicsByGuest(): Map<number, Nic[]> {
    const byGuest = new Map<number, Nic[]>();
    for (const n of this.deps.store.networks()) {
      const { prefix } = parseSubnet(n.subnet);
      for (const x of this.deps.store.nics({ network: n.name })) {
        const nics = byGuest.get(x.guestId) ?? [];
        nics.push({ name: `eth${x.index}`, network: n.name, mac: x.mac, address: `${x.address}/${prefix}`, hostDevice: hostDeviceName(this.deps.store.instance, x.guestId, x.index) });
        byGuest.set(x.guestId, nics);
      }
    }
    // eth0 first, as a guest's own page lists them
    for (const nics of byGuest.values()) nics.sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
    return byGuest;
  }

  /** Every guest's NICs, read one network at a time (not one guest at a time), with their host devices. */
  private allNics(): FirewallNic[] {
    return this.deps.store
      .networks()
      .flatMap((n) => this.deps.store.nics({ network: n.name }))
      .map((x) => ({ hostDevice: hostDeviceName(this.deps.store.instance, x.guestId, x.index), mac: x.mac, address: x.address }));
  }

  /** Lodge's nftables rules, made again from the database: isolation, NAT, anti-spoofing, port forwards. */
  syncFirewall(): Promise<void> {
    return this.firewall.rebuild();
  }

  private wholeRuleset(): string {
    const instance = this.deps.store.instance;
    const networks = this.deps.store.networks().map((n) => ({ bridge: n.bridge, subnet: n.subnet, nat: this.reachesUplink(n) }));
    return firewallRules({ table: firewallTable(instance), networks, nicPrefix: hostDevicePrefix(instance), nics: this.allNics(), forwards: this.forwards() });
  }

  /**
   * A guest's NICs came (before it first sends) or went: their names in its networks'
   * DNS, their entries in the anti-spoofing sets; nothing else of the firewall changes.
   * Failures are logged: they are the network's, not the guest's.
   */
  async nicsChanged(nics: readonly GuestNic[], op: 'add' | 'delete'): Promise<void> {
    if (nics.length === 0) return;
    for (const n of new Set(nics.map((x) => x.network))) await this.syncDns(n).catch((e: Error) => this.deps.log(`network ${n}: ${e.message}`));
    const elements = nics.map((x) => ({ hostDevice: x.hostDevice, mac: x.mac, address: x.address.split('/')[0]! }));
    await this.firewall.change(nicElements(firewallTable(this.deps.store.instance), elements, op)).catch((e: Error) => this.deps.log(`firewall: ${e.message}`));
  }

  forwards(guest?: { id: number }): Forward[] {
    return this.deps.store.forwards(guest?.id).flatMap((f) => {
      const eth0 = this.deps.store.nics({ guestId: f.guestId })[0];
      return eth0 ? [{ guest: f.guest, proto: f.proto, hostPort: f.hostPort, guestPort: f.guestPort, guestAddress: eth0.address, network: eth0.network }] : [];
    });
  }

  /** Sends connections to a host port on to the guest's eth0; removed with the guest. */
  async addForward(guest: { id: number; name: string }, req: ForwardPost): Promise<Forward> {
    const proto = req.proto ?? 'tcp';
    if (this.deps.store.nics({ guestId: guest.id }).length === 0) throw new LodgeError('CONFLICT', `${guest.name} has no NIC to forward to (launch it with --network)`);
    const taken = this.deps.store.forwards().find((f) => f.proto === proto && f.hostPort === req.hostPort);
    if (taken) throw new LodgeError('CONFLICT', `hostPort: ${proto} port ${req.hostPort} is forwarded to ${taken.guest} already`);
    if (req.hostPort < 1024 && !req.force) {
      throw new LodgeError('BAD_REQUEST', `hostPort: ${req.hostPort} is a privileged port, as the host's own services use; forward it only on purpose (--force)`);
    }
    const listener = await portListener(proto, req.hostPort);
    if (listener) throw new LodgeError('CONFLICT', `hostPort: ${listener} listens on ${proto} port ${req.hostPort} of the host; a forward would take its connections away`);
    this.deps.store.insertForward({ guestId: guest.id, proto, hostPort: req.hostPort, guestPort: req.guestPort });
    try {
      await this.syncFirewall();
    } catch (e) {
      this.deps.store.deleteForward(proto, req.hostPort);
      throw new LodgeError('ENGINE_FAILED', `adding the port forward failed: ${(e as Error).message}`, { cause: e });
    }
    return this.forwards(guest).find((f) => f.proto === proto && f.hostPort === req.hostPort)!;
  }

  async removeForward(guest: { id: number; name: string }, proto: 'tcp' | 'udp', hostPort: number): Promise<void> {
    if (!this.deps.store.forwards(guest.id).some((f) => f.proto === proto && f.hostPort === hostPort)) {
      throw new LodgeError('NOT_FOUND', `${guest.name} has no ${proto} forward from port ${hostPort}`);
    }
    this.deps.store.deleteForward(proto, hostPort);
    await this.syncFirewall();
  }
}
