/**
 * @module The client side of backup stores and backups.
 */
import type { Backup, BackupFileList, BackupGcResult, BackupPrunePost, BackupPruneResult, BackupRestorePost, BackupStore, BackupStoresPost, BackupVerifyResult, GuestBackupsPost } from '../api/backups.js';
import { backupFilesIncompleteHeader } from '../api/backups.js';
import type { Operation } from '../api/operations.js';
import type { Readable, Writable } from 'node:stream';
import type { Transport } from './http.js';

const store = (name: string) => `/1.0/backup-stores/${encodeURIComponent(name)}`;
const backup = (s: string, guest: string, id: string) => `${store(s)}/backups/${encodeURIComponent(guest)}/${encodeURIComponent(id)}`;

export class BackupsClient {
  private readonly t: Transport;
  constructor(t: Transport) {
    this.t = t;
  }

  stores = () => this.t.request<BackupStore[]>('GET', '/1.0/backup-stores');
  store = (name: string) => this.t.request<BackupStore>('GET', store(name));
  addStore = (body: BackupStoresPost) => this.t.request<BackupStore>('POST', '/1.0/backup-stores', { body });
  removeStore = (name: string) => this.t.request<void>('DELETE', store(name));
  list = (s: string, guest?: string) => this.t.request<Backup[]>('GET', `${store(s)}/backups${guest ? `?guest=${encodeURIComponent(guest)}` : ''}`);
  get = (s: string, guest: string, id: string) => this.t.request<Backup>('GET', backup(s, guest, id));
  delete = (s: string, guest: string, id: string) => this.t.request<void>('DELETE', backup(s, guest, id));
  restore = (s: string, guest: string, id: string, body: BackupRestorePost) => this.t.request<Operation>('POST', `${backup(s, guest, id)}/restore`, { body });
  create = (guest: string, body: GuestBackupsPost) => this.t.request<Operation>('POST', `/1.0/guests/${encodeURIComponent(guest)}/backups`, { body });
  verify = (s: string) => this.t.request<BackupVerifyResult>('POST', `${store(s)}/verify`);
  prune = (s: string, body: BackupPrunePost) => this.t.request<BackupPruneResult>('POST', `${store(s)}/prune`, { body });
  /** Writes the guest's export archive to `sink`. */
  exportGuest = (guest: string, sink: Writable) => this.t.download(`/1.0/guests/${encodeURIComponent(guest)}/export`, sink);
  importGuest = (data: Readable, query: { name?: string; start?: boolean; privileged?: boolean }) => {
    const q = new URLSearchParams(Object.entries(query).filter((e) => e[1] !== undefined).map(([k, v]) => [k, String(v)]));
    return this.t.request<Operation>('POST', `/1.0/guests/import?${q}`, { stream: { data, contentType: 'application/x-tar' } });
  };
  /** A directory of a backup (or a file: itself), as the guest saw it. */
  listFiles = (s: string, guest: string, id: string, path?: string) => this.t.request<BackupFileList>('GET', `${backup(s, guest, id)}/files/list${path ? `?path=${encodeURIComponent(path)}` : ''}`);
  /** Writes a tar of files and directories of a backup to `sink`; answers what lodged could not read of the backup, if anything. */
  downloadFiles = async (s: string, guest: string, id: string, paths: string[], sink: Writable): Promise<{ incomplete?: string }> => {
    const q = new URLSearchParams(paths.map((p) => ['path', p]));
    const headers = await this.t.download(`${backup(s, guest, id)}/files?${q}`, sink);
    const incomplete = headers[backupFilesIncompleteHeader];
    return typeof incomplete === 'string' ? { incomplete } : {};
  };
  gc = (s: string) => this.t.request<BackupGcResult>('POST', `${store(s)}/gc`);
}
