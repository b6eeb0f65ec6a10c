/**
 * @module A guest's graphs of the last hour (CPU, memory, disk, network), from the history
 * lodged keeps (GET /1.0/guests/NAME/history), read again at each of its samples. uPlot is
 * loaded with the first graph: pages without graphs never fetch it.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { GuestHistory } from '../api/history.js';
import { type ApiError, call } from './api.js';
import type { Chart, Series } from './charts.js';
import { bytes, cpus, rate } from './format.js';

/** Each graph: its title, how its values read, and its series from the history. */
const graphs: Array<{ id: string; title: string; format: (n: number) => string; series: (h: GuestHistory) => Series[] }> = [
  { id: 'cpu', title: 'CPU', format: cpus, series: (h) => [{ label: 'CPU', stroke: '#0b63c9', values: h.cpu }] },
  { id: 'memory', title: 'Memory', format: bytes, series: (h) => [{ label: 'used', stroke: '#8250df', values: h.memoryBytes }] },
  {
    id: 'disk',
    title: 'Disk',
    format: rate,
    series: (h) => [
      { label: 'read', stroke: '#1a7f37', values: h.diskReadBytesPerSecond },
      { label: 'written', stroke: '#bc4c00', values: h.diskWriteBytesPerSecond },
    ],
  },
  {
    id: 'network',
    title: 'Network',
    format: rate,
    series: (h) => [
      { label: 'received', stroke: '#1a7f37', values: h.networkReceiveBytesPerSecond },
      { label: 'sent', stroke: '#bc4c00', values: h.networkTransmitBytesPerSecond },
    ],
  },
];

export function GuestGraphs({ name }: { name: string }) {
  const boxes = useRef<Record<string, HTMLDivElement | null>>({});
  const [error, setError] = useState('');
  const [samples, setSamples] = useState<number | undefined>(undefined);
  useEffect(() => {
    let gone = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const charts = new Map<string, Chart>();
    const load = async () => {
      try {
        const [h, { openChart }] = await Promise.all([call<GuestHistory>('GET', `/1.0/guests/${encodeURIComponent(name)}/history`), import('./charts.js')]);
        if (gone) return;
        setSamples(h.time.length);
        setError('');
        for (const g of graphs) {
          const chart = charts.get(g.id);
          if (chart) chart.update(h.time, g.series(h));
          else if (boxes.current[g.id]) charts.set(g.id, openChart(boxes.current[g.id]!, g.title, g.format, h.time, g.series(h)));
        }
        timer = setTimeout(load, Math.max(h.intervalSeconds, 1) * 1000);
      } catch (e) {
        if (gone) return;
        setError((e as ApiError).message);
        timer = setTimeout(load, 5000);
      }
    };
    void load();
    return () => {
      gone = true;
      clearTimeout(timer);
      for (const c of charts.values()) c.close();
    };
  }, [name]);
  return (
    <div class="graphs">
      {error && <p class="error" role="alert">{error}</p>}
      {samples === 0 && <p>No samples yet: lodged samples a running guest every few seconds.</p>}
      <div class="graph-grid">
        {graphs.map((g) => <div key={g.id} class="graph" data-graph={g.id} ref={(el) => void (boxes.current[g.id] = el)} />)}
      </div>
    </div>
  );
}
