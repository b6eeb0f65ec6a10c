/**
 * @module Which chunks a finished backup references: its disks' fixed indexes, its
 * trees' catalog chunks and every file's data chunks. Shared by verify and gc.
 */
import { zeroId } from './index-files.js';
import type { BackupStore } from './store.js';

/**
 * Calls `add` with each chunk id that `group/id` references (repeats included). Throws
 * when the manifest, an index or a catalog cannot be read; ids found until then were added.
 */
export async function collectReferences(store: BackupStore, group: string, id: string, add: (chunk: string) => void): Promise<void> {
  const m = await store.readManifest(group, id);
  for (const x of m.indexes) {
    if (x.kind === 'disk') {
      for (const c of (await store.readFixedIndex(group, id, x.name)).chunks) if (c !== zeroId) add(c);
    } else {
      const list = await store.readChunkList(group, id, x.name);
      for (const c of list.chunks) add(c.id);
      for await (const e of store.catalogOf(list, `catalog ${x.name} of backup ${group}/${id}`)) for (const [c] of e.data ?? []) if (c !== null) add(c);
    }
  }
}
