/**
 * @module Graphs of the history lodged keeps, drawn by uPlot on a canvas. Its own chunk with
 * its stylesheet, loaded only when a page shows graphs (the list and the login stay small).
 */
import uPlot from 'uplot';
import { addStylesheet } from './stylesheet.js';

export interface Series {
  label: string;
  stroke: string;
  values: Array<number | null>;
}

export interface Chart {
  update(time: number[], series: Series[]): void;
  close(): void;
}

/** A line graph of `series` over `time` (seconds) in `box`, its values written by `format`. */
export function openChart(box: HTMLElement, title: string, format: (n: number) => string, time: number[], series: Series[]): Chart {
  addStylesheet('uplot', '/assets/uPlot.min.css');
  const axisColour = getComputedStyle(document.documentElement).getPropertyValue('--muted').trim() || '#59636e';
  const gridColour = getComputedStyle(document.documentElement).getPropertyValue('--line').trim() || '#d1d9e0';
  const axis = { stroke: axisColour, grid: { stroke: gridColour, width: 1 }, ticks: { stroke: gridColour, width: 1 } };
  const plot = new uPlot(
    {
      title,
      width: box.clientWidth || 420,
      height: 180,
      series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.stroke, width: 2, value: (_u: uPlot, v: number | null) => (v === null ? '–' : format(v)) }))],
      axes: [axis, { ...axis, size: 70, values: (_u: uPlot, splits: number[]) => splits.map(format) }],
      scales: { y: { range: (_u: uPlot, min: number, max: number) => [0, Math.max(max, min, 1e-9) * 1.1] } },
    },
    [time, ...series.map((s) => s.values)],
    box,
  );
  const onResize = () => plot.setSize({ width: box.clientWidth || 420, height: 180 });
  addEventListener('resize', onResize);
  return {
    update: (t, s) => plot.setData([t, ...s.map((x) => x.values)]),
    close: () => {
      removeEventListener('resize', onResize);
      plot.destroy();
    },
  };
}
