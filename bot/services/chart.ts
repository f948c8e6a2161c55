import type { SKRSContext2D } from '@napi-rs/canvas';
import { createCanvas } from '@napi-rs/canvas';

/** The plot area of a chart, in canvas pixels. */
export interface PlotArea {
  left: number;
  top: number;
  width: number;
  height: number;
}

/**
 * A blank 640×360 chart, rendered server-side (the canvas binary comes from npm): white
 * background, a title, horizontal grid lines with their labels. The caller draws inside `plot`
 * and calls `png()`.
 */
export function chartFrame(title: string, yLabels: string[]): { g: SKRSContext2D; plot: PlotArea; width: number; height: number; png(): Buffer } {
  const width = 640;
  const height = 360;
  const pad = { left: 56, right: 20, top: 44, bottom: 56 };
  const canvas = createCanvas(width, height);
  const g = canvas.getContext('2d');
  g.fillStyle = '#ffffff';
  g.fillRect(0, 0, width, height);
  g.fillStyle = '#111827';
  g.font = 'bold 16px sans-serif';
  g.fillText(title.slice(0, 80), pad.left, 26);
  const plot = { left: pad.left, top: pad.top, width: width - pad.left - pad.right, height: height - pad.top - pad.bottom };
  g.strokeStyle = '#9ca3af';
  g.font = '12px sans-serif';
  const ticks = yLabels.length - 1;
  yLabels.forEach((label, t) => {
    const y = plot.top + plot.height - (ticks ? t / ticks : 0) * plot.height;
    g.beginPath();
    g.moveTo(plot.left, y);
    g.lineTo(plot.left + plot.width, y);
    g.stroke();
    g.fillStyle = '#374151';
    g.fillText(label, 8, y + 4);
  });
  return { g, plot, width, height, png: () => canvas.toBuffer('image/png') };
}
