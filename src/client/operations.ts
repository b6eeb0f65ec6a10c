/**
 * @module The client side of /1.0/operations and /1.0/events.
 */
import type { Event, Operation } from '../api/operations.js';
import type { Transport } from './http.js';

export class OperationsClient {
  private readonly t: Transport;
  constructor(t: Transport) {
    this.t = t;
  }

  list = () => this.t.request<Operation[]>('GET', '/1.0/operations');
  get = (id: string) => this.t.request<Operation>('GET', `/1.0/operations/${id}`);
  /** Waits at most `timeoutSeconds` and answers the operation as it is then. */
  wait = (id: string, timeoutSeconds = 3600) => this.t.request<Operation>('GET', `/1.0/operations/${id}/wait?timeout=${timeoutSeconds}`);
  /** Asks a running operation to stop and undo its work; answers it as it is then (wait for its end). */
  cancel = (id: string) => this.t.request<Operation>('DELETE', `/1.0/operations/${id}`);
  events = (onEvent: (e: Event) => void) => this.t.stream('/1.0/events', (v) => onEvent(v as Event));
}
