// A host's latest sample: CPU, memory, load, each disk, network and disk I/O rates.

import { Gauge } from './Bits.jsx';
import { bytes, percent, rate } from '../lib/format.js';
import { Ago } from './HostTime.jsx';

/** The colour class of a use percentage, as the gauges have it. */
function level(value) {
  if (value === null || value === undefined) return 'none';
  return value >= 90 ? 'bad' : value >= 75 ? 'fair' : 'good';
}

/** The figures of the latest sample `metrics` (the API's `metrics` of a host). */
export function HostFigures({ metrics }) {
  if (!metrics) return <p class="muted">No sample yet.</p>;
  const { cpu = {}, memory = {}, disk = {}, io = {} } = metrics;
  const load = cpu.load_average || [];
  const net = io.network || {};
  const dio = io.disk_io || {};
  return (
    <div class="host-figures">
      <div class="host-figure" data-testid="host-cpu">
        <Gauge label="CPU" value={cpu.cpu_percent_total} />
        <p class="muted">{cpu.cpu_count_logical ? `${cpu.cpu_count_logical} cores` : 'cores unknown'}</p>
      </div>
      <div class="host-figure" data-testid="host-memory">
        <Gauge label="Memory" value={memory.memory_percent} />
        <p class="muted">{memory.memory_total ? `${bytes(memory.memory_used)} of ${bytes(memory.memory_total)}` : 'size unknown'}</p>
      </div>
      <dl class="host-figure host-pairs" data-testid="host-load">
        <dt>Load 1 min</dt><dd>{load[0]?.toFixed(2) ?? '—'}</dd>
        <dt>5 min</dt><dd>{load[1]?.toFixed(2) ?? '—'}</dd>
        <dt>15 min</dt><dd>{load[2]?.toFixed(2) ?? '—'}</dd>
      </dl>
      <dl class="host-figure host-pairs" data-testid="host-network">
        <dt>Network in</dt><dd>{rate(net.bytes_recv_per_s)}</dd>
        <dt>Network out</dt><dd>{rate(net.bytes_sent_per_s)}</dd>
      </dl>
      <dl class="host-figure host-pairs" data-testid="host-disk-io">
        <dt>Disk read</dt><dd>{rate(dio.read_bytes_per_s)}</dd>
        <dt>Disk write</dt><dd>{rate(dio.write_bytes_per_s)}</dd>
      </dl>
      <HostDisks partitions={disk.partitions || []} />
      <p class="muted host-sampled">Sampled <Ago time={metrics.sampled_at} /></p>
    </div>
  );
}

/** Each filesystem's use: mountpoint, used of size, and a bar. */
function HostDisks({ partitions }) {
  if (partitions.length === 0) return <p class="muted host-disks">No disks reported.</p>;
  return (
    <div class="table-wrap host-disks">
      <table>
        <caption class="muted">Disks</caption>
        <thead>
          <tr><th scope="col">Mountpoint</th><th scope="col" class="num">Used</th><th scope="col" class="num">Size</th><th scope="col">Use</th></tr>
        </thead>
        <tbody>
          {partitions.map((p) => (
            <tr key={p.mountpoint} data-testid="host-disk">
              <th scope="row" class="mono">{p.mountpoint}</th>
              <td class="num">{bytes(p.used)}</td>
              <td class="num">{bytes(p.total)}</td>
              <td>
                <span class="host-use">
                  <span class="gauge-track" role="meter" aria-label={`${p.mountpoint} used`} aria-valuemin="0" aria-valuemax="100" aria-valuenow={p.percent}>
                    <span class={`gauge-fill ${level(p.percent)}`} style={{ width: `${Math.min(100, p.percent)}%` }} />
                  </span>
                  <span class="gauge-value">{percent(p.percent, false, 0)}</span>
                </span>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
