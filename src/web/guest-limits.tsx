/**
 * @module A guest's limits, changed live through PATCH /1.0/guests/NAME (memory and CPU; the
 * disk is set at launch). A refusal is shown at the field lodged names ("limits.memory: ...").
 */
import { useState } from 'preact/hooks';
import type { Guest, GuestPatch } from '../api/guests.js';
import { call, errorsAt } from './api.js';

const fields = { memory: 'limits.memory', cpu: 'limits.cpu' } as const;
type Field = keyof typeof fields;

export function GuestLimits({ guest, onChanged }: { guest: Guest; onChanged: (g: Guest) => void }) {
  const [errors, setErrors] = useState<Partial<Record<Field | 'form', string>>>({});
  const [saved, setSaved] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e: SubmitEvent) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget as HTMLFormElement);
    const memory = String(form.get('memory') ?? '').trim();
    const cpu = String(form.get('cpu') ?? '').trim();
    // a number the browser cannot read goes as it was typed, for lodged to name the field
    const limits: GuestPatch['limits'] = { ...(memory ? { memory } : {}), ...(cpu ? { cpu: (Number.isNaN(Number(cpu)) ? cpu : Number(cpu)) as number } : {}) };
    setBusy(true);
    setErrors({});
    setSaved('');
    try {
      onChanged(await call<Guest>('PATCH', `/1.0/guests/${encodeURIComponent(guest.name)}`, { limits }));
      setSaved(guest.state === 'running' ? 'Changed, live.' : 'Changed: it applies at the next start.');
    } catch (err) {
      setErrors(errorsAt(fields, err));
    } finally {
      setBusy(false);
    }
  };
  const errorOf = (f: Field) => errors[f] && <p id={`limit-${f}-error`} class="field-error" role="alert">{errors[f]}</p>;
  const invalid = (f: Field) => (errors[f] ? { 'aria-invalid': 'true' as const, 'aria-describedby': `limit-${f}-error` } : {});
  return (
    <form class="wizard" onSubmit={submit} aria-label="Limits" noValidate>
      {errors.form && <p class="error" role="alert">{errors.form}</p>}
      <label for="l-memory">Memory limit</label>
      <input id="l-memory" name="memory" placeholder="256M" value={guest.limits.memory ?? ''} {...invalid('memory')} />
      {errorOf('memory')}
      <label for="l-cpu">CPU limit</label>
      <input id="l-cpu" name="cpu" placeholder="1.5" value={guest.limits.cpu ?? ''} {...invalid('cpu')} />
      {errorOf('cpu')}
      <p class="muted">Disk: {guest.limits.disk ?? 'the default'} (set at launch)</p>
      <button type="submit" disabled={busy}>Apply</button>
      {saved && <p role="status">{saved}</p>}
    </form>
  );
}
