/**
 * @module The create wizard, minimal: kind, image, name and memory, sent as one launch. A
 * refusal is shown at the field lodged names ("limits.memory: ..."), or above the form when
 * it names none. Once accepted, the list shows the guest coming up.
 */
import { useEffect, useState } from 'preact/hooks';
import type { GuestsPost } from '../api/guests.js';
import type { HostInfo } from '../api/host.js';
import type { Image } from '../api/images.js';
import type { Operation } from '../api/operations.js';
import { type ApiError, call } from './api.js';

/** The form's inputs, by the field of the request body each one fills. */
const fields = { kind: 'kind', image: 'image', name: 'name', memory: 'limits.memory' } as const;
type Field = keyof typeof fields;

export function CreatePage() {
  const [images, setImages] = useState<Image[]>([]);
  const [kinds, setKinds] = useState<string[]>([]);
  const [errors, setErrors] = useState<Partial<Record<Field | 'form', string>>>({});
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    call<Image[]>('GET', '/1.0/images').then(setImages, (e: ApiError) => setErrors({ form: e.message }));
    call<HostInfo>('GET', '/1.0').then((h) => setKinds(h.drivers.filter((d) => d.available).map((d) => d.kind)), () => {});
  }, []);

  const submit = async (e: SubmitEvent) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget as HTMLFormElement);
    const value = (f: Field) => String(form.get(f) ?? '').trim();
    const body: GuestsPost = { name: value('name'), image: value('image'), ...(value('kind') ? { kind: value('kind') as GuestsPost['kind'] } : {}), ...(value('memory') ? { limits: { memory: value('memory') } } : {}) };
    setBusy(true);
    setErrors({});
    try {
      await call<Operation>('POST', '/1.0/guests', body);
      location.hash = '#/guests';
    } catch (err) {
      const error = err as ApiError;
      const at = (Object.keys(fields) as Field[]).find((f) => fields[f] === error.field);
      setErrors(at ? { [at]: error.message } : { form: error.message });
    } finally {
      setBusy(false);
    }
  };

  const errorOf = (f: Field) => errors[f] && <p id={`${f}-error`} class="field-error" role="alert">{errors[f]}</p>;
  const invalid = (f: Field) => (errors[f] ? { 'aria-invalid': 'true' as const, 'aria-describedby': `${f}-error` } : {});
  return (
    <form class="wizard" onSubmit={submit} aria-label="New guest" noValidate>
      <h1>New guest</h1>
      {errors.form && <p class="error" role="alert">{errors.form}</p>}
      <label for="f-kind">Kind</label>
      <select id="f-kind" name="kind" {...invalid('kind')}>
        <option value="">the image's default</option>
        {kinds.map((k) => <option key={k} value={k}>{k}</option>)}
      </select>
      {errorOf('kind')}
      <label for="f-image">Image</label>
      <select id="f-image" name="image" required {...invalid('image')}>
        {images.map((i) => <option key={i.name} value={i.name}>{i.name}</option>)}
      </select>
      {errorOf('image')}
      <label for="f-name">Name</label>
      <input id="f-name" name="name" required placeholder="web1" {...invalid('name')} />
      {errorOf('name')}
      <label for="f-memory">Memory</label>
      <input id="f-memory" name="memory" placeholder="256M" {...invalid('memory')} />
      {errorOf('memory')}
      <button type="submit" disabled={busy}>Create</button>
    </form>
  );
}
