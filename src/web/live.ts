/**
 * @module How a page stays live: it reads something again whenever lodged's events say
 * anything happened (at most a few times a second, however many events come, and once when
 * the stream (re)opens), and figures at each sample of the history lodged keeps.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { HostHistory } from '../api/history.js';
import type { Event as LodgeEvent } from '../api/operations.js';
import { type ApiError, call, followEvents } from './api.js';

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

/** The host's last hour and each running guest's latest figures, read again at each of lodged's samples. */
export function useHostHistory(onError: (message: string) => void): HostHistory | undefined {
  const [history, setHistory] = useState<HostHistory | undefined>(undefined);
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let gone = false;
    const load = () =>
      call<HostHistory>('GET', '/1.0/history').then(
        (h) => {
          if (gone) return;
          setHistory(h);
          timer = setTimeout(load, Math.max(h.intervalSeconds, 1) * 1000);
        },
        (e: ApiError) => {
          if (gone) return;
          onError(e.message);
          timer = setTimeout(load, 5000);
        },
      );
    void load();
    return () => {
      gone = true;
      clearTimeout(timer);
    };
  }, []);
  return history;
}
