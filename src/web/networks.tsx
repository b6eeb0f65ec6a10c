/**
 * @module Networks: the list with the guests on each, a form to create one (a refusal shown at
 * the field lodged names) and a delete (refused while a guest uses it, as lodged says); then
 * the port forwards to the guests on them.
 */
import { Fragment } from 'preact';
import { useState } from 'preact/hooks';
import type { Network, NetworksPost } from '../api/networks.js';
import { type ApiError, call } from './api.js';
import { Forwards } from './forwards.js';
import { useLive } from './live.js';

const fields = { name: 'name', subnet: 'subnet' } as const;
type Field = keyof typeof fields;

export function NetworksPage() {
  const [networks, setNetworks] = useState<Network[] | undefined>(undefined);
  const [errors, setErrors] = useState<Partial<Record<Field | 'form', string>>>({});
  const load = () => call<Network[]>('GET', '/1.0/networks').then(setNetworks, (e: ApiError) => setErrors({ form: e.message }));
  useLive(load, [], (e) => e.type === 'lifecycle');
  const create = async (e: SubmitEvent) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget as HTMLFormElement);
    const value = (f: string) => String(form.get(f) ?? '').trim();
    const body: NetworksPost = { name: value('name'), ...(value('subnet') ? { subnet: value('subnet') } : {}), ...(form.get('isolated') ? { isolated: true } : {}) };
    setErrors({});
    try {
      await call('POST', '/1.0/networks', body);
      (e.target as HTMLFormElement).reset();
    } catch (err) {
      const error = err as ApiError;
      const at = (Object.keys(fields) as Field[]).find((f) => fields[f] === error.field);
      setErrors(at ? { [at]: error.message } : { form: error.message });
    }
    void load();
  };
  const remove = (name: string) => call('DELETE', `/1.0/networks/${encodeURIComponent(name)}`).then(load, (e: ApiError) => setErrors({ form: `delete ${name}: ${e.message}` }));
  const invalid = (f: Field) => (errors[f] ? { 'aria-invalid': 'true' as const, 'aria-describedby': `net-${f}-error` } : {});
  return (
    <section aria-label="Networks">
      <h1>Networks</h1>
      {errors.form && <p class="error" role="alert">{errors.form}</p>}
      {!networks ? <p aria-busy="true">Loading networks…</p> : networks.length === 0 ? <p>No networks.</p> : (
        <table>
          <thead><tr><th>Name</th><th>Subnet</th><th>Gateway</th><th>Bridge</th><th>NAT</th><th>Guests</th><th /></tr></thead>
          <tbody>
            {networks.map((n) => (
              <tr key={n.name} data-network={n.name}>
                <td>{n.name}</td><td>{n.subnet}</td><td>{n.gateway}</td><td>{n.bridge}</td><td>{n.nat ? (n.uplink ? 'yes, out' : 'yes') : 'isolated'}</td>
                <td class="network-guests">{n.guests.length === 0 ? 'none' : n.guests.map((g, i) => <Fragment key={g}>{i > 0 && ', '}<a href={`#/guests/${encodeURIComponent(g)}`}>{g}</a></Fragment>)}</td>
                <td><button type="button" class="link" onClick={() => void remove(n.name)}>Delete</button></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h2>New network</h2>
      <form class="toolbar inline-form" onSubmit={create} aria-label="New network" noValidate>
        <input name="name" aria-label="Network name" placeholder="name" {...invalid('name')} />
        <input name="subnet" aria-label="Subnet" placeholder="10.20.0.0/24 (or a free one)" {...invalid('subnet')} />
        <label class="check"><input type="checkbox" name="isolated" /> isolated</label>
        <button type="submit">Create</button>
      </form>
      {(['name', 'subnet'] as const).map((f) => errors[f] && <p key={f} id={`net-${f}-error`} class="field-error" role="alert">{errors[f]}</p>)}
      <Forwards guests={[...new Set((networks ?? []).flatMap((n) => n.guests))].sort()} />
    </section>
  );
}
