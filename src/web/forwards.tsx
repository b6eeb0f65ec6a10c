/**
 * @module Port forwards, which an admin adds and removes (POST and DELETE
 * /1.0/guests/NAME/forwards): one guest's on its page, or every guest's on the networks page
 * (GET /1.0/forwards), where the form asks which guest. A refusal is shown at the field
 * lodged names.
 */
import { useState } from 'preact/hooks';
import type { Forward } from '../api/networks.js';
import { type ApiError, call } from './api.js';
import { useLive } from './live.js';

const fields = { hostPort: 'hostPort', guestPort: 'guestPort' } as const;
type Field = keyof typeof fields;

const forwardsOf = (guest: string) => `/1.0/guests/${encodeURIComponent(guest)}/forwards`;

/** `guest`'s forwards; without one, every guest's, added to one of `guests`. */
export function Forwards({ guest, guests = [] }: { guest?: string; guests?: string[] }) {
  const [forwards, setForwards] = useState<Forward[]>([]);
  const [errors, setErrors] = useState<Partial<Record<Field | 'form', string>>>({});
  const load = () => call<Forward[]>('GET', guest ? forwardsOf(guest) : '/1.0/forwards').then(setForwards, (e: ApiError) => setErrors({ form: e.message }));
  // a guest deleted takes its forwards with it
  useLive(load, [guest], (e) => e.type === 'lifecycle');

  const add = async (e: SubmitEvent) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget as HTMLFormElement);
    const port = (f: string) => {
      const v = String(form.get(f) ?? '').trim();
      return Number.isInteger(Number(v)) && v !== '' ? Number(v) : v;
    };
    setErrors({});
    try {
      await call('POST', forwardsOf(guest ?? String(form.get('guest'))), { hostPort: port('hostPort'), guestPort: port('guestPort'), proto: form.get('proto') });
      (e.target as HTMLFormElement).reset();
    } catch (err) {
      const error = err as ApiError;
      const f = (Object.keys(fields) as Field[]).find((k) => fields[k] === error.field);
      setErrors(f ? { [f]: error.message } : { form: error.message });
    }
    void load();
  };
  const remove = (f: Forward) => call('DELETE', `${forwardsOf(f.guest)}/${f.proto}/${f.hostPort}`).then(load, (e: ApiError) => setErrors({ form: e.message }));
  const invalid = (f: Field) => (errors[f] ? { 'aria-invalid': 'true' as const, 'aria-describedby': `fwd-${f}-error` } : {});
  return (
    <div>
      <h2>Port forwards</h2>
      {errors.form && <p class="error" role="alert">{errors.form}</p>}
      {forwards.length === 0 ? <p>None.</p> : (
        <table>
          <thead><tr><th>Protocol</th><th>Host port</th>{!guest && <th>Guest</th>}<th>To</th>{!guest && <th>Network</th>}<th /></tr></thead>
          <tbody>
            {forwards.map((f) => (
              <tr key={`${f.proto}/${f.hostPort}`} data-forward={`${f.proto}/${f.hostPort}`}>
                <td>{f.proto}</td><td>{f.hostPort}</td>
                {!guest && <td><a href={`#/guests/${encodeURIComponent(f.guest)}`}>{f.guest}</a></td>}
                <td>{f.guestAddress}:{f.guestPort}</td>
                {!guest && <td>{f.network}</td>}
                <td><button type="button" class="link" onClick={() => void remove(f)}>Remove</button></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form class="toolbar inline-form" onSubmit={add} aria-label="Add a port forward" noValidate>
        {!guest && (
          <select name="guest" aria-label="Guest">
            {guests.map((g) => <option key={g} value={g}>{g}</option>)}
          </select>
        )}
        <select name="proto" aria-label="Protocol"><option value="tcp">tcp</option><option value="udp">udp</option></select>
        <input name="hostPort" aria-label="Host port" placeholder="host port" {...invalid('hostPort')} />
        <input name="guestPort" aria-label="Guest port" placeholder="guest port" {...invalid('guestPort')} />
        <button type="submit" disabled={!guest && guests.length === 0}>Add forward</button>
      </form>
      {(['hostPort', 'guestPort'] as const).map((f) => errors[f] && <p key={f} id={`fwd-${f}-error`} class="field-error" role="alert">{errors[f]}</p>)}
    </div>
  );
}
