/**
 * @module lodged's events as they happen (GET /1.0/events): lifecycle changes and operations,
 * newest first. Nothing is kept by lodged, so the page shows what came since it opened.
 */
import { useEffect, useState } from 'preact/hooks';
import type { Event as LodgeEvent } from '../api/operations.js';
import { followEvents } from './api.js';
import { when } from './format.js';

/** Events kept on the page; the oldest go first. */
const kept = 200;

export function EventsPage() {
  const [events, setEvents] = useState<LodgeEvent[]>([]);
  const [open, setOpen] = useState(false);
  useEffect(() => {
    const stop = new AbortController();
    void followEvents((e) => setEvents((shown) => [e, ...shown].slice(0, kept)), () => setOpen(true), stop.signal);
    return () => stop.abort();
  }, []);
  return (
    <section aria-label="Events">
      <h1>Events</h1>
      <p class="muted" role="status">{open ? 'Following lodged\'s events: they appear here as they happen.' : 'Connecting…'}</p>
      <table>
        <thead><tr><th>Time</th><th>Type</th><th>Target</th><th>Action</th><th>Detail</th></tr></thead>
        <tbody>
          {events.map((e, i) => (
            <tr key={`${e.time}-${events.length - i}`} data-event={`${e.target} ${e.action}`}>
              <td>{when(e.time)}</td><td>{e.type}</td><td>{e.target}</td><td>{e.action}</td>
              <td class="detail">{e.detail ? JSON.stringify(e.detail) : ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
