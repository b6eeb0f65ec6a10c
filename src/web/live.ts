/**
 * @module Reads something again whenever lodged's events say anything happened (at most a
 * few times a second, however many events come), and once when the stream (re)opens: how
 * a page stays live without polling.
 */
import { useEffect, useRef } from 'preact/hooks';
import type { Event as LodgeEvent } from '../api/operations.js';
import { followEvents } from './api.js';

/** The fewest milliseconds between two reads, however many events come. */
const refreshGapMs = 250;

/** Calls `load` now, and again soon after each event that `matters` (every event unless told). */
export function useLive(load: () => unknown, deps: unknown[], matters: (e: LodgeEvent) => boolean = () => true): void {
  const pending = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => {
    const stop = new AbortController();
    const soon = () => {
      pending.current ??= setTimeout(() => {
        pending.current = undefined;
        if (!stop.signal.aborted) void load();
      }, refreshGapMs);
    };
    void load();
    void followEvents((e) => matters(e) && soon(), soon, stop.signal);
    return () => {
      stop.abort();
      clearTimeout(pending.current);
      pending.current = undefined;
    };
  }, deps);
}
