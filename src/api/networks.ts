/**
 * @module The wire types of networks: bridges with an IPv4 subnet, DHCP and DNS, that
 * guests join with one NIC each.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Name, StringEnum } from './common.js';

export const NetworksPost = Type.Object(
  {
    name: Name,
    subnet: Type.Optional(Type.String({ description: 'IPv4 subnet in CIDR notation, e.g. 10.20.0.0/24; a free /24 is chosen when left out' })),
    isolated: Type.Optional(Type.Boolean({ description: "no NAT towards the host's uplink: its guests reach the host and each other only, and names outside .lodge do not resolve" })),
  },
  { additionalProperties: false },
);
export type NetworksPost = Static<typeof NetworksPost>;

export const Network = Type.Object({
  name: Type.String(),
  subnet: Type.String(),
  gateway: Type.String({ description: "the bridge's own address: the guests' router and DNS server" }),
  bridge: Type.String({ description: 'the Linux bridge on the host' }),
  nat: Type.Boolean({ description: "masquerades its guests towards the host's uplink; false for isolated networks" }),
  uplink: Type.Boolean({ description: 'its guests reach beyond the host now: nat, and lodged runs with --uplink' }),
  guests: Type.Array(Type.String(), { description: 'guests with a NIC on it' }),
  createdAt: Type.String(),
});
export type Network = Static<typeof Network>;

export const NetworkList = Type.Array(Network);

/** One NIC asked for at launch. */
export const NicRequest = Type.Object(
  {
    network: Type.String({ minLength: 1, maxLength: 63 }),
    address: Type.Optional(Type.String({ description: 'a fixed IPv4 address in the network; the next free one when left out' })),
  },
  { additionalProperties: false },
);
export type NicRequest = Static<typeof NicRequest>;

export const Nic = Type.Object({
  name: Type.String({ description: 'inside the guest: eth0, eth1, ...' }),
  network: Type.String(),
  mac: Type.String(),
  address: Type.String({ description: 'IPv4 address with its prefix length' }),
  hostDevice: Type.String({ description: 'the host end of it (veth or tap)' }),
});
export type Nic = Static<typeof Nic>;

const Port = Type.Integer({ minimum: 1, maximum: 65535 });

export const ForwardPost = Type.Object(
  {
    hostPort: Port,
    guestPort: Port,
    proto: Type.Optional(StringEnum(['tcp', 'udp'] as const)),
    force: Type.Optional(Type.Boolean({ description: 'allow a host port below 1024 (a privileged port, as a service of the host would use)' })),
  },
  { additionalProperties: false },
);
export type ForwardPost = Static<typeof ForwardPost>;

export const Forward = Type.Object({
  guest: Type.String(),
  proto: StringEnum(['tcp', 'udp'] as const),
  hostPort: Type.Integer(),
  guestPort: Type.Integer(),
  guestAddress: Type.String({ description: "the guest's eth0 address, where connections go" }),
  network: Type.String({ description: "the network of the guest's eth0" }),
});
export type Forward = Static<typeof Forward>;

export const ForwardList = Type.Array(Forward);
