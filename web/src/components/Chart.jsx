// A time-series chart (uPlot): fits its container's width, redraws on theme change.

import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { cssVar, onTheme } from '../lib/theme.js';

const PALETTE = ['--chart-1', '--chart-2', '--chart-3', '--chart-4', '--chart-5'];

/** The y axis's width: its longest label measured in the axis's font, plus ticks and gap. */
function fitLabels(u, values, axisIdx, cycleNum) {
  const axis = u.axes[axisIdx];
  if (cycleNum > 1) return axis._size;
  const longest = (values ?? []).reduce((a, v) => (v.length > a.length ? v : a), '');
  u.ctx.font = axis.font[0];
  const text = longest ? u.ctx.measureText(longest).width / devicePixelRatio : 0;
  return Math.ceil(axis.ticks.size + axis.gap + text + 4);
}

/**
 * `x`: times in seconds since the epoch; `series`: `[{label, values, color?, dots?}]` (null gaps
 * allowed; `color` a CSS colour or a theme variable such as `--bad`; `dots`: drawn as dots,
 * no line); `format(v)`: a value's label; `yRange`: `[min, max]` to fix the axis.
 */
export function Chart({ x, series, format = (v) => String(v), height = 220, yRange, title }) {
  const box = useRef(null);
  const plot = useRef(null);
  // The latest series and data, so a rebuild (on theme change) draws them rather than those of the first build.
  const latest = useRef(null);
  latest.current = { series, data: [x, ...series.map((s) => s.values)] };

  useEffect(() => {
    const el = box.current;
    if (!el) return undefined;
    const build = () => {
      plot.current?.destroy();
      const fg = cssVar('--muted');
      const grid = cssVar('--border');
      const opts = {
        width: Math.max(200, el.clientWidth),
        height,
        title,
        cursor: { drag: { x: true, y: false } },
        legend: { show: true },
        scales: { x: { time: true }, y: yRange ? { range: yRange } : { range: (u, min, max) => [Math.min(0, min), max > 0 ? max * 1.1 : 1] } },
        axes: [
          { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } },
          { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid }, size: fitLabels, values: (u, vals) => vals.map(format) },
        ],
        series: [
          {},
          ...latest.current.series.map((s, i) => {
            const stroke = s.color ? (s.color.startsWith('--') ? cssVar(s.color) : s.color) : cssVar(PALETTE[i % PALETTE.length]);
            return {
              label: s.label,
              stroke,
              width: 1.5,
              spanGaps: false,
              points: s.dots ? { show: true, size: 7, width: 0, fill: stroke } : { show: false },
              ...(s.dots ? { paths: () => null } : {}),
              value: (u, v) => (v === null || v === undefined ? '—' : format(v)),
            };
          }),
        ],
      };
      plot.current = new uPlot(opts, latest.current.data, el);
    };
    build();
    const resize = new ResizeObserver(() => {
      if (plot.current && el.clientWidth > 0) plot.current.setSize({ width: el.clientWidth, height });
    });
    resize.observe(el);
    const off = onTheme(build);
    return () => {
      off();
      resize.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, [series.length, height, title, yRange?.[0], yRange?.[1]]);

  useEffect(() => {
    plot.current?.setData(latest.current.data);
  }, [x, series]);

  return <div class="chart" ref={box} role="img" aria-label={title || series.map((s) => s.label).join(', ')} />;
}
