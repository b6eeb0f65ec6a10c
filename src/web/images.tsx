/**
 * @module Images: the list, a build of one Lodge knows how to make (its progress shown live
 * with the image operations), an import of a file from the reader's machine (a rootfs
 * tarball, a qcow2 or raw disk, an ISO: its upload's progress, then the import's), and a
 * delete (lodged refuses one that guests still use, and says so).
 */
import { useState } from 'preact/hooks';
import type { Image, ImageImportQuery, ImagesBuildPost } from '../api/images.js';
import type { Operation } from '../api/operations.js';
import { type ApiError, call, errorsAt, waitFor } from './api.js';
import { bytes, when } from './format.js';
import { useLive } from './live.js';
import { OperationsTable } from './operations.js';
import { upload } from './upload.js';

// the images lodged can build, as the API's type says (the compiler checks that the list is whole)
const buildable: Record<ImagesBuildPost['name'], true> = { busybox: true, 'debian/12': true, 'debian/12-cloud': true, 'busybox-iso': true };
// the formats an import takes, as the API's type says (api/'s own list would bring its schema library into the page)
const importFormats = Object.keys({ auto: true, tar: true, qcow2: true, raw: true, iso: true } satisfies Record<NonNullable<ImageImportQuery['format']>, true>);

export function ImagesPage() {
  const [images, setImages] = useState<Image[] | undefined>(undefined);
  const [error, setError] = useState('');
  useLive(() => call<Image[]>('GET', '/1.0/images').then(setImages, (e: ApiError) => setError(e.message)), [], (e) => e.type === 'operation' && e.action.startsWith('image.'));
  const build = async (e: SubmitEvent) => {
    e.preventDefault();
    setError('');
    await call('POST', '/1.0/images/build', { name: new FormData(e.currentTarget as HTMLFormElement).get('name') }).catch((err: ApiError) => setError(err.message));
  };
  const remove = async (name: string) => {
    setError('');
    await call('DELETE', `/1.0/images/${encodeURIComponent(name)}`).catch((err: ApiError) => setError(`delete ${name}: ${err.message}`));
    setImages(await call<Image[]>('GET', '/1.0/images'));
  };
  return (
    <section aria-label="Images">
      <div class="toolbar">
        <h1>Images</h1>
        <form class="toolbar" onSubmit={build} aria-label="Build an image">
          <select name="name" aria-label="Image to build">{Object.keys(buildable).map((n) => <option key={n} value={n}>{n}</option>)}</select>
          <button type="submit">Build</button>
        </form>
      </div>
      {error && <p class="error" role="alert">{error}</p>}
      {!images ? <p aria-busy="true">Loading images…</p> : images.length === 0 ? <p>No images yet: build one.</p> : (
        <table>
          <thead><tr><th>Name</th><th>Format</th><th>Size</th><th>Bases</th><th>Source</th><th>Made</th><th /></tr></thead>
          <tbody>
            {images.map((i) => (
              <tr key={i.name} data-image={i.name}>
                <td>{i.name}</td><td>{i.format}</td><td>{bytes(i.sizeBytes)}</td><td>{i.bases.length}</td><td>{i.source}</td><td>{when(i.createdAt)}</td>
                <td><button type="button" class="link" onClick={() => void remove(i.name)}>Delete</button></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <ImageImport />
      <h2>Builds and imports</h2>
      <OperationsTable keep={(o) => o.action.startsWith('image.')} limit={10} />
    </section>
  );
}

const importFields = { name: 'name', format: 'format' } as const;

/** A file of the reader's sent to POST /1.0/images/import, its bytes counted as they go; lodged's refusal shown at its field. */
function ImageImport() {
  const [sent, setSent] = useState<{ bytes: number; of: number } | undefined>(undefined);
  const [done, setDone] = useState('');
  const [errors, setErrors] = useState<Partial<Record<keyof typeof importFields | 'form', string>>>({});
  const send = async (e: SubmitEvent) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    const file = data.get('file');
    setErrors({});
    setDone('');
    if (!(file instanceof File) || file.size === 0) return setErrors({ form: 'choose a file to import' });
    const query = new URLSearchParams({ name: String(data.get('name') ?? '').trim(), format: String(data.get('format')) });
    setSent({ bytes: 0, of: file.size });
    try {
      const op = await upload<Operation>(`/1.0/images/import?${query}`, file, (bytes, of) => setSent({ bytes, of }));
      const ended = await waitFor(op);
      if (ended.status !== 'success') throw new Error(`import ${query.get('name')}: ${ended.error?.message ?? ended.status}`);
      setDone(`${query.get('name')} is imported.`);
      form.reset();
    } catch (err) {
      setErrors(errorsAt(importFields, err));
    }
    setSent(undefined);
  };
  const invalid = (f: keyof typeof importFields) => (errors[f] ? { 'aria-invalid': 'true' as const, 'aria-describedby': `import-${f}-error` } : {});
  return (
    <>
      <h2>Import an image</h2>
      <form class="toolbar inline-form" onSubmit={send} aria-label="Import an image" noValidate>
        <input type="file" name="file" aria-label="Image file" accept=".tar,.tar.gz,.tgz,.tar.xz,.tar.zst,.qcow2,.img,.raw,.iso" />
        <input name="name" aria-label="Image name" placeholder="name" {...invalid('name')} />
        <select name="format" aria-label="Format" {...invalid('format')}>{importFormats.map((f) => <option key={f} value={f}>{f}</option>)}</select>
        <button type="submit" disabled={sent !== undefined}>Import</button>
      </form>
      {sent && (
        <p role="status" class="upload-progress">
          <progress max={sent.of} value={sent.bytes} /> {sent.bytes < sent.of ? `${bytes(sent.bytes)} of ${bytes(sent.of)} sent` : `${bytes(sent.of)} sent; importing…`}
        </p>
      )}
      {done && <p role="status">{done}</p>}
      {(['name', 'format'] as const).map((f) => errors[f] && <p key={f} id={`import-${f}-error`} class="field-error" role="alert">{errors[f]}</p>)}
      {errors.form && <p class="error" role="alert">{errors.form}</p>}
    </>
  );
}
