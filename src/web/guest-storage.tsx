/**
 * @module A guest's storage tab: its snapshots (taken, restored, deleted), its backups in
 * every backup store (one made now, restored as a new guest, deleted) and the volumes it has
 * (attached, detached). Each action is lodged's: an operation followed to its end, a refusal
 * shown with lodged's words (at the field it names); the lists follow lodged's events.
 */
import { useState } from 'preact/hooks';
import type { Backup, BackupStore } from '../api/backups.js';
import type { Guest } from '../api/guests.js';
import type { Operation } from '../api/operations.js';
import type { Snapshot } from '../api/snapshots.js';
import type { Volume } from '../api/volumes.js';
import { type ApiError, call, errorsAt, waitFor } from './api.js';
import { bytes, when } from './format.js';
import { useLive } from './live.js';
import { aboutGuest } from './operations.js';

/** Runs an action that answers an operation (or nothing) to its end; throws the operation's failure as an error. */
async function act(method: string, path: string, body?: unknown): Promise<void> {
  const answer = await call<Operation | undefined>(method, path, body);
  if (answer && 'id' in answer && 'status' in answer) {
    const ended = await waitFor(answer);
    if (ended.status !== 'success') throw new Error(`${ended.action} ${ended.target}: ${ended.error?.message ?? ended.status}`);
  }
}

export function GuestStorage({ guest }: { guest: Guest }) {
  return (
    <div>
      <Snapshots guest={guest} />
      <Backups guest={guest} />
      <Volumes guest={guest} />
    </div>
  );
}

/** A section's one error line and its busy state, around each of its actions. */
function useActions() {
  const [error, setError] = useState('');
  const [busy, setBusy] = useState('');
  const run = async (what: string, action: () => Promise<unknown>) => {
    setError('');
    setBusy(what);
    try {
      await action();
    } catch (e) {
      setError((e as Error).message);
    }
    setBusy('');
  };
  return { error, setError, busy, run };
}

const snapshotFields = { name: 'name' } as const;

function Snapshots({ guest }: { guest: Guest }) {
  const at = `/1.0/guests/${encodeURIComponent(guest.name)}/snapshots`;
  const [snapshots, setSnapshots] = useState<Snapshot[]>([]);
  const [nameError, setNameError] = useState('');
  const { error, setError, busy, run } = useActions();
  const load = () => call<Snapshot[]>('GET', at).then(setSnapshots, (e: ApiError) => setError(e.message));
  useLive(load, [guest.name], (e) => e.type === 'operation' && aboutGuest(guest.name, e.target));
  const take = (e: SubmitEvent) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    const name = String(data.get('name') ?? '').trim();
    setNameError('');
    void run('Taking a snapshot…', async () => {
      try {
        await act('POST', at, { ...(name ? { name } : {}), ...(data.get('stateful') ? { stateful: true } : {}) });
        form.reset();
      } catch (err) {
        const shown = errorsAt(snapshotFields, err);
        if (!shown.name) throw err;
        setNameError(shown.name);
      }
      await load();
    });
  };
  const restore = (s: Snapshot) => {
    if (!confirm(`Put ${guest.name} back as ${s.name} keeps it? What it holds now is lost${guest.state === 'running' ? ', and it is restarted' : ''}.`)) return;
    void run(`Restoring ${s.name}…`, () => act('POST', `${at}/${encodeURIComponent(s.name)}/restore`).finally(load));
  };
  const remove = (s: Snapshot) => void run(`Deleting ${s.name}…`, () => act('DELETE', `${at}/${encodeURIComponent(s.name)}`).finally(load));
  return (
    <section aria-label="Snapshots">
      <h2>Snapshots</h2>
      {error && <p class="error" role="alert">{error}</p>}
      {snapshots.length === 0 ? <p>None.</p> : (
        <table>
          <thead><tr><th>Name</th><th>Taken</th><th>The guest was</th><th>Memory</th><th>Takes</th><th /></tr></thead>
          <tbody>
            {snapshots.map((s) => (
              <tr key={s.name} data-snapshot={s.name}>
                <td>{s.name}</td><td>{when(s.createdAt)}</td><td>{s.guestState}</td><td>{s.stateful ? 'kept' : 'no'}</td><td>{bytes(s.usedBytes)}</td>
                <td>
                  <button type="button" class="link" disabled={busy !== ''} onClick={() => restore(s)}>Restore</button>{' '}
                  <button type="button" class="link" disabled={busy !== ''} onClick={() => remove(s)}>Delete</button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form class="toolbar inline-form" onSubmit={take} aria-label="Take a snapshot" noValidate>
        <input name="name" aria-label="Snapshot name" placeholder="name (snap0…)" {...(nameError ? { 'aria-invalid': 'true' as const, 'aria-describedby': 'snapshot-name-error' } : {})} />
        <label class="check"><input type="checkbox" name="stateful" /> with its memory</label>
        <button type="submit" disabled={busy !== ''}>Take snapshot</button>
        {busy && <span role="status">{busy}</span>}
      </form>
      {nameError && <p id="snapshot-name-error" class="field-error" role="alert">{nameError}</p>}
    </section>
  );
}

function Backups({ guest }: { guest: Guest }) {
  const [stores, setStores] = useState<BackupStore[] | undefined>(undefined);
  const [backups, setBackups] = useState<Backup[]>([]);
  const { error, setError, busy, run } = useActions();
  const inStore = (store: string) => `/1.0/backup-stores/${encodeURIComponent(store)}/backups`;
  const load = async () => {
    try {
      const list = await call<BackupStore[]>('GET', '/1.0/backup-stores');
      setStores(list);
      const each = await Promise.all(list.map((s) => call<Backup[]>('GET', `${inStore(s.name)}?guest=${encodeURIComponent(guest.name)}`)));
      setBackups(each.flat().sort((a, b) => b.id.localeCompare(a.id)));
    } catch (e) {
      setError((e as ApiError).message);
    }
  };
  useLive(load, [guest.name], (e) => e.type === 'operation' && (e.action.startsWith('backup.') || aboutGuest(guest.name, e.target)));
  const backUp = (e: SubmitEvent) => {
    e.preventDefault();
    const store = String(new FormData(e.currentTarget as HTMLFormElement).get('store') ?? '');
    void run('Backing up…', () => act('POST', `/1.0/guests/${encodeURIComponent(guest.name)}/backups`, store ? { store } : {}).finally(load));
  };
  const path = (b: Backup) => `${inStore(b.store)}/${encodeURIComponent(b.guest)}/${encodeURIComponent(b.id)}`;
  const restore = (b: Backup) => {
    const name = prompt(`Make a new guest from the backup of ${b.guest} taken ${b.createdAt ? when(b.createdAt) : b.id}. Its name:`, `${guest.name}-restored`);
    if (name) void run(`Restoring into ${name}…`, () => act('POST', `${path(b)}/restore`, { name }).finally(load));
  };
  const remove = (b: Backup) => {
    if (confirm(`Delete the backup of ${b.guest} taken ${b.createdAt ? when(b.createdAt) : b.id}?`)) void run('Deleting a backup…', () => act('DELETE', path(b)).finally(load));
  };
  return (
    <section aria-label="Backups">
      <h2>Backups</h2>
      {error && <p class="error" role="alert">{error}</p>}
      {stores?.length === 0 ? (
        <p>No backup store yet: make one with <code>lodge backup-store create NAME DIRECTORY</code>.</p>
      ) : (
        <>
          {backups.length === 0 ? <p>None.</p> : (
            <table>
              <thead><tr><th>Taken</th><th>Store</th><th>Holds</th><th>Added to the store</th><th /></tr></thead>
              <tbody>
                {backups.map((b) => (
                  <tr key={`${b.store}/${b.id}`} data-backup={b.id}>
                    <td>{b.createdAt ? when(b.createdAt) : b.id}{b.finished ? '' : ' (not finished)'}</td><td>{b.store}</td><td>{bytes(b.sizeBytes)}</td><td>{bytes(b.storedBytes)}</td>
                    <td>
                      <button type="button" class="link" disabled={busy !== '' || !b.finished} onClick={() => restore(b)}>Restore as a new guest</button>{' '}
                      <button type="button" class="link" disabled={busy !== ''} onClick={() => remove(b)}>Delete</button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <form class="toolbar inline-form" onSubmit={backUp} aria-label="Back up" noValidate>
            {(stores?.length ?? 0) > 1 && <select name="store" aria-label="Backup store">{stores!.map((s) => <option key={s.name} value={s.name}>{s.name}</option>)}</select>}
            <button type="submit" disabled={busy !== '' || !stores}>Back up now</button>
            {busy && <span role="status">{busy}</span>}
          </form>
        </>
      )}
    </section>
  );
}

function Volumes({ guest }: { guest: Guest }) {
  const at = `/1.0/guests/${encodeURIComponent(guest.name)}/volumes`;
  const [volumes, setVolumes] = useState<Volume[]>([]);
  const { error, setError, busy, run } = useActions();
  const load = () => call<Volume[]>('GET', '/1.0/volumes').then(setVolumes, (e: ApiError) => setError(e.message));
  useLive(load, [guest.name], (e) => e.type === 'lifecycle');
  const mine = volumes.filter((v) => v.attachedTo?.guest === guest.name);
  const free = volumes.filter((v) => !v.attachedTo);
  const attach = (e: SubmitEvent) => {
    e.preventDefault();
    const data = new FormData(e.currentTarget as HTMLFormElement);
    const mount = String(data.get('path') ?? '').trim();
    void run('Attaching…', () => act('POST', at, { volume: data.get('volume'), ...(mount ? { path: mount } : {}) }).finally(load));
  };
  const detach = (v: Volume) => void run(`Detaching ${v.name}…`, () => act('DELETE', `${at}/${encodeURIComponent(v.name)}`).finally(load));
  return (
    <section aria-label="Volumes">
      <h2>Volumes</h2>
      {error && <p class="error" role="alert">{error}</p>}
      {mine.length === 0 ? <p>None attached.</p> : (
        <table>
          <thead><tr><th>Name</th><th>Pool</th><th>Size</th><th>{guest.kind === 'ct' ? 'Mounted at' : 'Disk'}</th><th /></tr></thead>
          <tbody>
            {mine.map((v) => (
              <tr key={v.name} data-volume={v.name}>
                <td>{v.name}</td><td>{v.pool}</td><td>{bytes(v.sizeBytes)}</td><td>{v.attachedTo?.path ?? v.attachedTo?.device ?? ''}</td>
                <td><button type="button" class="link" disabled={busy !== ''} onClick={() => detach(v)}>Detach</button></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {free.length === 0 ? <p class="muted">No free volume to attach: make one with <code>lodge volume create NAME --size 1G</code>.</p> : (
        <form class="toolbar inline-form" onSubmit={attach} aria-label="Attach a volume" noValidate>
          <select name="volume" aria-label="Volume">{free.map((v) => <option key={v.name} value={v.name}>{v.name} ({bytes(v.sizeBytes)})</option>)}</select>
          {guest.kind === 'ct' && <input name="path" aria-label="Mount path" placeholder="/data" />}
          <button type="submit" disabled={busy !== ''}>Attach</button>
          {busy && <span role="status">{busy}</span>}
        </form>
      )}
    </section>
  );
}
