/**
 * @module A guest's NICs (network, address, MAC, host end) and its port forwards, which an
 * admin adds and removes here (POST and DELETE /1.0/guests/NAME/forwards); a refusal is shown
 * at the field lodged names.
 */
import { useEffect, useState } from 'preact/hooks';
import type { Guest } from '../api/guests.js';
import type { Forward } from '../api/networks.js';
import { type ApiError, call } from './api.js';

const fields = { hostPort: 'hostPort', guestPort: 'guestPort' } as const;
type Field = keyof typeof fields;

export function GuestNetwork({ guest }: { guest: Guest }) {
  const at = `/1.0/guests/${encodeURIComponent(guest.name)}/forwards`;
  const [forwards, setForwards] = useState<Forward[]>([]);
  const [errors, setErrors] = useState<Partial<Record<Field | 'form', string>>>({});
  const load = () => call<Forward[]>('GET', at).then(setForwards, (e: ApiError) => setErrors({ form: e.message }));
  useEffect(() => void load(), [guest.name]);

  const add = async (e: SubmitEvent) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget as HTMLFormElement);
    const port = (f: string) => {
      const v = String(form.get(f) ?? '').trim();
      return Number.isInteger(Number(v)) && v !== '' ? Number(v) : v;
    };
    setErrors({});
    try {
      await call('POST', at, { hostPort: port('hostPort'), guestPort: port('guestPort'), proto: form.get('proto') });
      (e.target as HTMLFormElement).reset();
    } catch (err) {
      const error = err as ApiError;
      const f = (Object.keys(fields) as Field[]).find((k) => fields[k] === error.field);
      setErrors(f ? { [f]: error.message } : { form: error.message });
    }
    void load();
  };
  const remove = (f: Forward) => call('DELETE', `${at}/${f.proto}/${f.hostPort}`).then(load, (e: ApiError) => setErrors({ form: e.message }));
  const invalid = (f: Field) => (errors[f] ? { 'aria-invalid': 'true' as const, 'aria-describedby': `fwd-${f}-error` } : {});
  const nics = guest.nics ?? [];
  return (
    <div>
      <h2>NICs</h2>
      {nics.length === 0 ? <p>None: loopback only.</p> : (
        <table>
          <thead><tr><th>NIC</th><th>Network</th><th>Address</th><th>MAC</th><th>Host end</th></tr></thead>
          <tbody>{nics.map((n) => <tr key={n.name}><td>{n.name}</td><td><a href="#/networks">{n.network}</a></td><td>{n.address}</td><td>{n.mac}</td><td>{n.hostDevice}</td></tr>)}</tbody>
        </table>
      )}
      <h2>Port forwards</h2>
      {errors.form && <p class="error" role="alert">{errors.form}</p>}
      {forwards.length === 0 ? <p>None.</p> : (
        <table>
          <thead><tr><th>Protocol</th><th>Host port</th><th>To</th><th /></tr></thead>
          <tbody>
            {forwards.map((f) => (
              <tr key={`${f.proto}/${f.hostPort}`}>
                <td>{f.proto}</td><td>{f.hostPort}</td><td>{f.guestAddress}:{f.guestPort}</td>
                <td><button type="button" class="link" onClick={() => void remove(f)}>Remove</button></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form class="toolbar inline-form" onSubmit={add} aria-label="Add a port forward" noValidate>
        <select name="proto" aria-label="Protocol"><option value="tcp">tcp</option><option value="udp">udp</option></select>
        <input name="hostPort" aria-label="Host port" placeholder="host port" {...invalid('hostPort')} />
        <input name="guestPort" aria-label="Guest port" placeholder="guest port" {...invalid('guestPort')} />
        <button type="submit">Add forward</button>
      </form>
      {(['hostPort', 'guestPort'] as const).map((f) => errors[f] && <p key={f} id={`fwd-${f}-error`} class="field-error" role="alert">{errors[f]}</p>)}
    </div>
  );
}
