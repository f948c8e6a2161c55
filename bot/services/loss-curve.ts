import { chartFrame } from './chart.js';

export interface LossPoint {
  step: number;
  value: number;
}

/** Train loss (line) and held-out eval loss (dots) by optimizer step, as PNG. */
export function renderLossCurvePng(title: string, train: LossPoint[], evals: LossPoint[]): Buffer {
  const all = [...train, ...evals].filter((p) => Number.isFinite(p.value));
  const top = niceCeiling(Math.max(0.1, ...all.map((p) => p.value)));
  const { g, plot, height, png } = chartFrame(title, [0, 0.25, 0.5, 0.75, 1].map((f) => (f * top).toFixed(top < 4 ? 2 : 1)));
  const lastStep = Math.max(1, ...all.map((p) => p.step));
  const x = (step: number) => plot.left + (step / lastStep) * plot.width;
  const y = (value: number) => plot.top + plot.height - (Math.min(value, top) / top) * plot.height;

  g.strokeStyle = '#6366f1';
  g.lineWidth = 2;
  g.beginPath();
  train.forEach((p, i) => (i === 0 ? g.moveTo(x(p.step), y(p.value)) : g.lineTo(x(p.step), y(p.value))));
  g.stroke();
  g.fillStyle = '#f59e0b';
  for (const p of evals) {
    g.beginPath();
    g.arc(x(p.step), y(p.value), 5, 0, Math.PI * 2);
    g.fill();
  }
  g.fillStyle = '#111827';
  g.font = '12px sans-serif';
  g.fillText(`step (0-${lastStep})`, plot.left + plot.width / 2 - 30, height - 28);
  g.fillStyle = '#6366f1';
  g.fillText('— train loss', plot.left, height - 10);
  g.fillStyle = '#f59e0b';
  g.fillText('● eval loss', plot.left + 110, height - 10);
  return png();
}

/** The next of 1, 2, 2.5, 5 × 10^k at or above v: a readable top for the y axis. */
function niceCeiling(v: number): number {
  const p = 10 ** Math.floor(Math.log10(v));
  return ([1, 2, 2.5, 5, 10].find((m) => m * p >= v) ?? 10) * p;
}
