/**
 * Resident memory of a bench step including the processes it starts: sessions run in child processes
 * (src/inference/native-child.ts), whose memory `process.resourceUsage().maxRSS` does not count. Every
 * `everyMs` this reads /proc for the descendants of this process: the sum of their and this process'
 * VmRSS (its maximum over the samples: the step's peak footprint, to within one sampling interval), and
 * each descendant's VmHWM (its exact own peak; the largest is reported).
 */
import fs from 'node:fs';

const MB = 1024 * 1024;

function statusKb(pid: number | 'self', field: 'VmRSS' | 'VmHWM'): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0; // the process has exited
  }
}

/**
 * The descendants of `root`, from the kernel's per-thread child lists (/proc/<pid>/task/<tid>/children):
 * a few small reads per process of the tree, not one per process of the machine (a scan of every
 * /proc/<pid>/stat cost the measured step ~2 ms of its main thread per sample).
 */
function descendants(root: number): number[] {
  const out: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.pop()!;
    let tasks: string[];
    try {
      tasks = fs.readdirSync(`/proc/${pid}/task`);
    } catch {
      continue; // the process has exited
    }
    for (const tid of tasks) {
      let list: string;
      try {
        list = fs.readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8');
      } catch {
        continue;
      }
      for (const c of list.split(' ')) {
        const child = Number(c);
        if (c.length > 0 && Number.isInteger(child)) {
          out.push(child);
          queue.push(child);
        }
      }
    }
  }
  return out;
}

export interface TreeRssPeaks {
  /** max over samples of Σ VmRSS (this process and its descendants), MB. */
  treePeakMB: number;
  /** The largest VmHWM of a descendant, MB (0 without one). */
  largestChildPeakMB: number;
  /** Descendants seen. */
  children: number;
  samples: number;
}

export class TreeRss {
  private timer: NodeJS.Timeout | null = null;
  private tree = 0;
  private hwm = new Map<number, number>();
  private n = 0;

  start(everyMs = 50): this {
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
    this.timer.unref();
    return this;
  }

  sample(): void {
    this.n++;
    let sum = statusKb('self', 'VmRSS');
    for (const pid of descendants(process.pid)) {
      sum += statusKb(pid, 'VmRSS');
      this.hwm.set(pid, Math.max(this.hwm.get(pid) ?? 0, statusKb(pid, 'VmHWM')));
    }
    this.tree = Math.max(this.tree, sum);
  }

  stop(): TreeRssPeaks {
    if (this.timer) clearInterval(this.timer);
    this.sample();
    const r = (kb: number) => Math.round(((kb * 1024) / MB) * 10) / 10;
    return { treePeakMB: r(this.tree), largestChildPeakMB: r(Math.max(0, ...this.hwm.values())), children: this.hwm.size, samples: this.n };
  }
}
