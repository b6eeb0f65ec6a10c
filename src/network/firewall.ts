/**
 * @module Lodge's nftables rules, made whole from the database and swapped in atomically
 * whenever networks, NICs or port forwards change: nothing is routed into a Lodge network
 * from outside it but replies and port forwards, nor from one Lodge network to another;
 * out to the uplink only from a NAT network, masqueraded as the host; a guest's NIC sends
 * only with the MAC and address it was given
 * (DHCP's 0.0.0.0 aside); a port forward sends connections to a host port on to a guest.
 * The text is made by a pure function, tested beside it.
 */
import { run } from '../lib/exec.js';
import { bridgePrefix } from './nic.js';

/** Every Lodge bridge, of any lodged on the host. */
const bridgePattern = `${bridgePrefix}*`;

export interface FirewallNic {
  hostDevice: string;
  mac: string;
  /** Without its prefix length. */
  address: string;
}

export interface FirewallInput {
  /** The tables' name: one lodged's own (after its instance), so two never overwrite each other. */
  table: string;
  /** nat: routed out to the uplink (masqueraded); otherwise nothing is routed out of it. */
  networks: Array<{ bridge: string; subnet: string; nat: boolean }>;
  /** What every host end of this lodged's NICs is named with. */
  nicPrefix: string;
  nics: FirewallNic[];
  forwards: Array<{ proto: 'tcp' | 'udp'; hostPort: number; guestAddress: string; guestPort: number }>;
}

/** Pure: the whole ruleset; with no networks, only the removal of the tables (nothing is left on the host). */
export function firewallRules(i: FirewallInput): string {
  const table = (family: string, body: string[]) => [
    `table ${family} ${i.table} {}`,
    `delete table ${family} ${i.table}`,
    ...(i.networks.length > 0 ? [`table ${family} ${i.table} {`, ...body, '}'] : []),
  ];
  // bridged traffic stays on its bridge (iifname = oifname, also under br_netfilter); what is routed is judged
  // here. Port forwards (ct status dnat) and their replies pass everywhere.
  const isolation = i.networks.flatMap(({ bridge: b, nat }) => [
    // nothing from outside opens a connection into a network
    `    oifname "${b}" iifname != "${b}" ct state != { established, related } ct status != dnat drop`,
    // out: a NAT network to anything but another Lodge network, an isolated one nowhere
    nat ? `    iifname "${b}" oifname "${bridgePattern}" oifname != "${b}" ct status != dnat drop` : `    iifname "${b}" oifname != "${b}" ct status != dnat drop`,
  ]);
  const masquerade = i.networks.filter((n) => n.nat).map((n) => `    ip saddr ${n.subnet} oifname != "${n.bridge}" masquerade`);
  const dnat = (from: string) => i.forwards.map((f) => `    ${from}fib daddr type local ${f.proto} dport ${f.hostPort} dnat ip to ${f.guestAddress}:${f.guestPort}`);
  // a NIC of this lodged sends only with its pair of MAC and address; one not in the sets sends nothing
  const nic = `iifname "${i.nicPrefix}*"`;
  const spoofing = [
    `    ${nic} iifname . ether saddr != @nic_mac drop`,
    `    ${nic} ether type ip ip saddr != 0.0.0.0 iifname . ip saddr != @nic_ip drop`,
    `    ${nic} ether type arp arp saddr ip != 0.0.0.0 iifname . arp saddr ip != @nic_ip drop`,
  ];
  return [
    ...table('inet', [
      '  chain forward {',
      '    type filter hook forward priority filter; policy accept;',
      ...isolation,
      '  }',
      // connections from other hosts, and from this host itself to one of its addresses but loopback's: a
      // packet from 127.0.0.1 cannot be routed to a guest (and letting it would open the host's loopback
      // services to the guests), so a connection to localhost:PORT is refused at once instead of hanging
      '  chain prerouting {',
      '    type nat hook prerouting priority dstnat; policy accept;',
      ...dnat(''),
      '  }',
      '  chain output {',
      // dstnat names -100 only on prerouting in this nft
      '    type nat hook output priority -100; policy accept;',
      ...dnat('ip daddr != 127.0.0.0/8 '),
      '  }',
      '  chain postrouting {',
      '    type nat hook postrouting priority srcnat; policy accept;',
      ...masquerade,
      '  }',
    ]),
    ...table('bridge', [
      '  set nic_mac { type ifname . ether_addr; }',
      '  set nic_ip { type ifname . ipv4_addr; }',
      '  chain prerouting {',
      '    type filter hook prerouting priority 0; policy accept;',
      ...spoofing,
      '  }',
    ]),
    ...(i.networks.length > 0 ? elementLines(i.table, i.nics, 'add') : []),
    '',
  ].join('\n');
}

/**
 * Pure: adds or removes NICs' set elements, in one transaction. Removing adds first, so
 * that removing an element that is not there (a crash between the two) is no error.
 */
export function nicElements(table: string, nics: readonly FirewallNic[], op: 'add' | 'delete'): string[] {
  if (nics.length === 0) return [];
  // adding a chain that is there changes nothing, and fails where a table is gone (removed by hand): the caller
  // then makes the whole ruleset again
  return [`add chain inet ${table} forward`, `add chain bridge ${table} prerouting`, ...elementLines(table, nics, op)];
}

function elementLines(table: string, nics: readonly FirewallNic[], op: 'add' | 'delete'): string[] {
  if (nics.length === 0) return [];
  const sets = {
    nic_mac: nics.map((n) => `"${n.hostDevice}" . ${n.mac}`).join(', '),
    nic_ip: nics.map((n) => `"${n.hostDevice}" . ${n.address}`).join(', '),
  };
  return Object.entries(sets).flatMap(([set, elements]) => [
    `add element bridge ${table} ${set} { ${elements} }`,
    ...(op === 'delete' ? [`delete element bridge ${table} ${set} { ${elements} }`] : []),
  ]);
}

export const firewallTable = (instance: string) => `lodge-${instance}`;

/** Replaces Lodge's tables with `rules` in one transaction: all of it applies, or none. */
export async function applyFirewall(rules: string): Promise<void> {
  await run(['nft', '-f', '-'], { input: rules });
}
