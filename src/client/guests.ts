/**
 * @module The client side of /1.0/guests.
 */
import type { ExecPost, ExecRequest, ExecResult, ExecWsQuery, Guest, GuestListQuery, GuestPatch, GuestsPost, GuestStatePut } from '../api/guests.js';
import type { Readable, Writable } from 'node:stream';
import { fileHeaders, type FilePushQuery, type GuestFile } from '../api/files.js';
import type { Operation } from '../api/operations.js';
import type { GuestCopyPost } from '../api/snapshots.js';
import type { Transport } from './http.js';

const at = (name: string) => `/1.0/guests/${encodeURIComponent(name)}`;

export class GuestsClient {
  private readonly t: Transport;
  constructor(t: Transport) {
    this.t = t;
  }

  list = (filter: GuestListQuery = {}) => {
    const q = new URLSearchParams(Object.entries(filter).filter((e) => e[1] !== undefined));
    return this.t.request<Guest[]>('GET', `/1.0/guests${q.size ? `?${q}` : ''}`);
  };
  get = (name: string) => this.t.request<Guest>('GET', at(name));
  launch = (body: GuestsPost) => this.t.request<Operation>('POST', '/1.0/guests', { body });
  update = (name: string, body: GuestPatch) => this.t.request<Guest>('PATCH', at(name), { body });
  rename = (name: string, to: string) => this.t.request<Guest>('POST', `${at(name)}/rename`, { body: { name: to } });
  copy = (name: string, body: GuestCopyPost) => this.t.request<Operation>('POST', `${at(name)}/copy`, { body });
  delete = (name: string, force = false) => this.t.request<Operation>('DELETE', `${at(name)}${force ? '?force=true' : ''}`);
  changeState = (name: string, body: GuestStatePut) => this.t.request<Operation>('PUT', `${at(name)}/state`, { body });
  exec = (name: string, body: ExecPost) => this.t.request<ExecResult>('POST', `${at(name)}/exec`, { body });
  consoleLog = (name: string) => this.t.request<string>('GET', `${at(name)}/console/log`, { text: true });

  pushFile = (name: string, query: FilePushQuery, data: Readable) => {
    const q = new URLSearchParams(Object.entries(query).filter((e) => e[1] !== undefined).map(([k, v]) => [k, String(v)]));
    return this.t.request<GuestFile>('POST', `${at(name)}/files?${q}`, { stream: { data, contentType: 'application/octet-stream' } });
  };

  /** Writes a guest's file to `sink`; answers what the guest holds it as. */
  pullFile = async (name: string, path: string, sink: Writable): Promise<GuestFile> => {
    const headers = await this.t.download(`${at(name)}/files?${new URLSearchParams({ path })}`, sink);
    const id = (h: string) => Number(headers[h]);
    return { path, mode: String(headers[fileHeaders.mode]), uid: id(fileHeaders.uid), gid: id(fileHeaders.gid), sizeBytes: Number(headers['content-length']) };
  };

  /** WebSocket address of the live console, of a vm's VGA screen (VNC), or of a command as it runs (on a pty, or on pipes). */
  consoleUrl = (name: string) => this.t.webSocketUrl(`${at(name)}/console`);
  vgaUrl = (name: string) => this.t.webSocketUrl(`${at(name)}/vga`);
  execUrl = (name: string, req: ExecRequest, how: { stdio?: ExecWsQuery['stdio']; size?: { cols: number; rows: number } } = {}) => {
    const q = new URLSearchParams(req.command.map((c) => ['command', c]));
    for (const [k, v] of Object.entries(req.env ?? {})) q.append('env', `${k}=${v}`);
    if (req.cwd) q.set('cwd', req.cwd);
    if (how.stdio) q.set('stdio', how.stdio);
    if (how.size) {
      q.set('cols', String(how.size.cols));
      q.set('rows', String(how.size.rows));
    }
    return this.t.webSocketUrl(`${at(name)}/exec?${q}`);
  };
}
