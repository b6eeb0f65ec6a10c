/**
 * @module The event bus: lifecycle and operation events, fanned out to every watcher
 * of GET /1.0/events. Nothing is kept: a watcher sees what happens while it watches.
 */
import { EventEmitter } from 'node:events';
import type { Event } from '../api/operations.js';

export class Events {
  private readonly emitter = new EventEmitter().setMaxListeners(0);

  emit(type: Event['type'], target: string, action: string, detail?: Record<string, unknown>): void {
    const event: Event = { type, time: new Date().toISOString(), target, action, ...(detail ? { detail } : {}) };
    this.emitter.emit('event', event);
  }

  subscribe(listener: (e: Event) => void): () => void {
    this.emitter.on('event', listener);
    return () => this.emitter.off('event', listener);
  }
}
