/**
 * @module The create wizard: kind, image, name, CPU, memory, disk, and a network with an
 * address, sent as one launch. A refusal is shown at the field lodged names
 * ("limits.memory: ...", "networks.0.address: ..."), or above the form when it names none.
 * Once accepted, the list shows the guest coming up.
 */
import { useEffect, useState } from 'preact/hooks';
import type { GuestsPost, Limits } from '../api/guests.js';
import type { HostInfo } from '../api/host.js';
import type { Image } from '../api/images.js';
import type { Network } from '../api/networks.js';
import type { Operation } from '../api/operations.js';
import { type ApiError, call, errorsAt } from './api.js';

/** The form's inputs, by the field of the request body each one fills. */
const fields = {
  kind: 'kind',
  image: 'image',
  name: 'name',
  cpu: 'limits.cpu',
  memory: 'limits.memory',
  disk: 'limits.disk',
  network: 'networks.0.network',
  address: 'networks.0.address',
} as const;
type Field = keyof typeof fields;

/** The network choice that asks for no NIC (loopback only); left empty, lodged's default applies. */
const noNetwork = '-';

/** The body of the launch the form describes; a CPU count the browser cannot read goes as typed, for lodged to name it. */
function launchBody(value: (f: Field) => string): GuestsPost {
  const cpu = value('cpu');
  const limits: Limits = {
    ...(cpu ? { cpu: (Number.isNaN(Number(cpu)) ? cpu : Number(cpu)) as number } : {}),
    ...(value('memory') ? { memory: value('memory') } : {}),
    ...(value('disk') ? { disk: value('disk') } : {}),
  };
  const network = value('network');
  const networks = network === noNetwork ? [] : network ? [{ network, ...(value('address') ? { address: value('address') } : {}) }] : undefined;
  return {
    name: value('name'),
    image: value('image'),
    ...(value('kind') ? { kind: value('kind') as GuestsPost['kind'] } : {}),
    ...(Object.keys(limits).length ? { limits } : {}),
    ...(networks ? { networks } : {}),
  };
}

export function CreatePage() {
  const [images, setImages] = useState<Image[]>([]);
  const [kinds, setKinds] = useState<string[]>([]);
  const [networks, setNetworks] = useState<Network[]>([]);
  const [errors, setErrors] = useState<Partial<Record<Field | 'form', string>>>({});
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    call<Image[]>('GET', '/1.0/images').then(setImages, (e: ApiError) => setErrors({ form: e.message }));
    call<HostInfo>('GET', '/1.0').then((h) => setKinds(h.drivers.filter((d) => d.available).map((d) => d.kind)), () => {});
    call<Network[]>('GET', '/1.0/networks').then(setNetworks, () => {});
  }, []);

  const submit = async (e: SubmitEvent) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget as HTMLFormElement);
    const body = launchBody((f) => String(form.get(f) ?? '').trim());
    setBusy(true);
    setErrors({});
    try {
      await call<Operation>('POST', '/1.0/guests', body);
      location.hash = '#/guests';
    } catch (err) {
      setErrors(errorsAt(fields, err));
    } finally {
      setBusy(false);
    }
  };

  const errorOf = (f: Field) => errors[f] && <p id={`${f}-error`} class="field-error" role="alert">{errors[f]}</p>;
  const invalid = (f: Field) => (errors[f] ? { 'aria-invalid': 'true' as const, 'aria-describedby': `${f}-error` } : {});
  const input = (f: Field, label: string, placeholder: string) => (
    <div class="field">
      <label for={`f-${f}`}>{label}</label>
      <input id={`f-${f}`} name={f} placeholder={placeholder} {...invalid(f)} />
      {errorOf(f)}
    </div>
  );
  return (
    <form class="wizard two-columns" onSubmit={submit} aria-label="New guest" noValidate>
      <h1>New guest</h1>
      {errors.form && <p class="error" role="alert">{errors.form}</p>}
      {input('name', 'Name', 'web1')}
      <div class="field">
        <label for="f-kind">Kind</label>
        <select id="f-kind" name="kind" {...invalid('kind')}>
          <option value="">the image's default</option>
          {kinds.map((k) => <option key={k} value={k}>{k}</option>)}
        </select>
        {errorOf('kind')}
      </div>
      <div class="field">
        <label for="f-image">Image</label>
        <select id="f-image" name="image" required {...invalid('image')}>
          {images.map((i) => <option key={i.name} value={i.name}>{i.name}</option>)}
        </select>
        {errorOf('image')}
      </div>
      {input('cpu', 'CPU', '1.5 (no limit when empty)')}
      {input('memory', 'Memory', '256M')}
      {input('disk', 'Disk', '1G (the default when empty)')}
      <div class="field">
        <label for="f-network">Network</label>
        <select id="f-network" name="network" {...invalid('network')}>
          <option value="">the default network</option>
          {networks.map((n) => <option key={n.name} value={n.name}>{n.name} ({n.subnet})</option>)}
          <option value={noNetwork}>none (loopback only)</option>
        </select>
        {errorOf('network')}
      </div>
      {input('address', 'Address', 'the next free one when empty')}
      <button type="submit" disabled={busy}>Create</button>
    </form>
  );
}
