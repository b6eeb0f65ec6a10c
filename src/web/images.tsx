/**
 * @module Images: the list, a build of one Lodge knows how to make (its progress shown live
 * with the image operations), and a delete (lodged refuses one that guests still use, and
 * says so).
 */
import { useState } from 'preact/hooks';
import type { Image, ImagesBuildPost } from '../api/images.js';
import { type ApiError, call } from './api.js';
import { bytes, when } from './format.js';
import { useLive } from './live.js';
import { OperationsTable } from './operations.js';

// the images lodged can build, as the API's type says (the compiler checks that the list is whole)
const buildable: Record<ImagesBuildPost['name'], true> = { busybox: true, 'debian/12': true, 'debian/12-cloud': true, 'busybox-iso': true };

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
      <h2>Builds and imports</h2>
      <OperationsTable keep={(o) => o.action.startsWith('image.')} limit={10} />
    </section>
  );
}
