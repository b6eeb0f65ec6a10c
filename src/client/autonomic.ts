/**
 * @module The client side of the autonomic loop.
 */
import type { AutonomicStatus } from '../api/autonomic.js';
import type { Operation } from '../api/operations.js';
import type { Transport } from './http.js';

export class AutonomicClient {
  private readonly t: Transport;
  constructor(t: Transport) {
    this.t = t;
  }

  status = () => this.t.request<AutonomicStatus>('GET', '/1.0/autonomic');
  log = (limit?: number) => this.t.request<Operation[]>('GET', `/1.0/autonomic/log${limit !== undefined ? `?limit=${limit}` : ''}`);
  pause = () => this.t.request<AutonomicStatus>('POST', '/1.0/autonomic/pause');
  resume = () => this.t.request<AutonomicStatus>('POST', '/1.0/autonomic/resume');
}
