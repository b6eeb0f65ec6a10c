/**
 * @module A guest's page: what it is, then tabs: its graphs of the last hour, its limits
 * (changed live), its NICs and port forwards, its snapshots, backups and volumes, its
 * operations, and its consoles: the serial console, a shell (exec -t) and the VGA screen
 * where its kind has them (the driver's interactiveExec and vga features, as GET /1.0 says). The code of graphs (uPlot) is loaded
 * only when its tab opens, as the consoles' is, so the list and the login stay small. The
 * page follows lodged's events for the guest.
 */
import { useEffect, useState } from 'preact/hooks';
import type { HostInfo } from '../api/host.js';
import { call } from './api.js';
import { type ConsoleKind, GuestConsole, useGuest } from './guest-console.js';
import { GuestGraphs } from './guest-graphs.js';
import { GuestLimits } from './guest-limits.js';
import { GuestNetwork } from './guest-network.js';
import { GuestStorage } from './guest-storage.js';
import { aboutGuest, OperationsTable } from './operations.js';

type Tab = 'graphs' | 'limits' | 'network' | 'storage' | 'operations' | ConsoleKind;

export function GuestPage({ name }: { name: string }) {
  const { guest, setGuest, error, load } = useGuest(name);
  const [features, setFeatures] = useState<string[]>([]);
  const [tab, setTab] = useState<Tab>('graphs');
  useEffect(() => {
    if (!guest) return;
    call<HostInfo>('GET', '/1.0').then((host) => setFeatures(host.drivers.find((d) => d.kind === guest.kind)?.features ?? []), () => setFeatures([]));
  }, [guest?.kind]);
  if (error) return <p class="error" role="alert">{error}</p>;
  if (!guest) return <p aria-busy="true">Loading {name}…</p>;
  const tabs: Array<[Tab, string]> = [
    ['graphs', 'Graphs'],
    ['limits', 'Limits'],
    ['network', 'Network'],
    ['storage', 'Storage'],
    ['operations', 'Operations'],
    ['console', 'Console'],
    ...(features.includes('interactiveExec') ? [['shell', 'Shell'] as [Tab, string]] : []),
    ...(features.includes('vga') ? [['screen', 'Screen'] as [Tab, string]] : []),
  ];
  return (
    <section aria-label={`Guest ${name}`}>
      <h1>{guest.name}</h1>
      <dl class="summary">
        <dt>Kind</dt><dd>{guest.kind}</dd>
        <dt>State</dt><dd><span class={`state state-${guest.state}`}>{guest.state}</span>{guest.stateReason ? ` (${guest.stateReason})` : ''}</dd>
        <dt>Image</dt><dd>{guest.image}</dd>
        <dt>Limits</dt><dd>memory {guest.limits.memory ?? 'none'}, CPU {guest.limits.cpu ?? 'none'}</dd>
        <dt>Addresses</dt><dd>{(guest.nics ?? []).map((n) => `${n.name} ${n.address} (${n.network})`).join(', ') || 'none'}</dd>
      </dl>
      <div class="tabs" role="tablist" aria-label="About the guest">
        {tabs.map(([id, label]) => (
          <button type="button" role="tab" id={`tab-${id}`} key={id} aria-selected={tab === id} aria-controls="guest-panel" onClick={() => setTab(id)}>{label}</button>
        ))}
      </div>
      <div role="tabpanel" id="guest-panel" aria-labelledby={`tab-${tab}`}>
        {tab === 'graphs' && <GuestGraphs name={name} />}
        {tab === 'limits' && <GuestLimits guest={guest} onChanged={setGuest} />}
        {tab === 'network' && <GuestNetwork guest={guest} />}
        {tab === 'storage' && <GuestStorage guest={guest} />}
        {tab === 'operations' && <OperationsTable keep={(o) => aboutGuest(name, o.target)} />}
        {(tab === 'console' || tab === 'shell' || tab === 'screen') && <GuestConsole key={tab} guest={guest} kind={tab} onChanged={load} />}
      </div>
    </section>
  );
}
