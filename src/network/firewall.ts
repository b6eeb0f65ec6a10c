/**
 * @module Lodge's nftables rules, made whole from the database and swapped in atomically
 * whenever networks, NICs or port forwards change: nothing is routed out of a Lodge
 * network, to another one or to the uplink; a guest's NIC sends only with the MAC and address it was given
 * (DHCP's 0.0.0.0 aside); a port forward sends connections to a host port on to a guest.
 * The text is made by a pure function, tested beside it.
 */
import { run } from '../lib/exec.js';

export interface FirewallInput {
  /** The tables' name: one lodged's own (after its instance), so two never overwrite each other. */
  table: string;
  bridges: string[];
  nics: Array<{ hostDevice: string; mac: string; address: string }>;
  forwards: Array<{ proto: 'tcp' | 'udp'; hostPort: number; guestAddress: string; guestPort: number }>;
}

/** Pure: the whole ruleset; with no networks, only the removal of the tables (nothing is left on the host). */
export function firewallRules(i: FirewallInput): string {
  const table = (family: string, body: string[]) => [
    `table ${family} ${i.table} {}`,
    `delete table ${family} ${i.table}`,
    ...(i.bridges.length > 0 ? [`table ${family} ${i.table} {`, ...body, '}'] : []),
  ];
  // bridged traffic stays on its bridge (iifname = oifname); anything routed out of a network (to another one, or
  // to the host's uplink) is dropped, replies of port forwards aside. NAT towards the uplink is not there yet.
  const isolation = i.bridges.map((b) => `    iifname "${b}" oifname != "${b}" ct status != dnat drop`);
  const dnat = i.forwards.map((f) => `    fib daddr type local ${f.proto} dport ${f.hostPort} dnat ip to ${f.guestAddress}:${f.guestPort}`);
  const spoofing = i.nics.flatMap((n) => [
    `    iifname "${n.hostDevice}" ether saddr != ${n.mac} drop`,
    `    iifname "${n.hostDevice}" ether type ip ip saddr != { ${n.address}, 0.0.0.0 } drop`,
    `    iifname "${n.hostDevice}" ether type arp arp saddr ip != { ${n.address}, 0.0.0.0 } drop`,
  ]);
  return [
    ...table('inet', [
      '  chain forward {',
      '    type filter hook forward priority filter; policy accept;',
      ...isolation,
      '  }',
      // connections from other hosts, and from this host itself
      '  chain prerouting {',
      '    type nat hook prerouting priority dstnat; policy accept;',
      ...dnat,
      '  }',
      '  chain output {',
      // dstnat names -100 only on prerouting in this nft
      '    type nat hook output priority -100; policy accept;',
      ...dnat,
      '  }',
    ]),
    ...table('bridge', ['  chain prerouting {', '    type filter hook prerouting priority 0; policy accept;', ...spoofing, '  }']),
    '',
  ].join('\n');
}

export const firewallTable = (instance: string) => `lodge-${instance}`;

/** Replaces Lodge's tables with `rules` in one transaction: all of it applies, or none. */
export async function applyFirewall(rules: string): Promise<void> {
  await run(['nft', '-f', '-'], { input: rules });
}
