import cron from 'node-cron';
import type { Logger } from 'pino';
import type { RetentionCounts } from '../db/write-ops.js';
import type { WriterQueue } from './writer-queue.js';

/** Deletes logged messages, reply texts and dataset snapshots older than RETENTION_DAYS (on RETENTION_CRON, checked by loadConfig). */
export class RetentionService {
  private task: ReturnType<typeof cron.schedule> | undefined;

  constructor(
    private readonly writer: WriterQueue,
    private readonly opts: { days: number; cron: string },
    private readonly log?: Logger,
  ) {}

  runOnce(now = new Date()): Promise<RetentionCounts> {
    const cutoff = new Date(now.getTime() - this.opts.days * 24 * 60 * 60 * 1000);
    return this.writer.submit<RetentionCounts>({ kind: 'retention.purge', cutoff });
  }

  start(): void {
    this.task = cron.schedule(this.opts.cron, async () => {
      try {
        const counts = await this.runOnce();
        this.log?.info({ counts, days: this.opts.days }, 'retention purge done');
      } catch (err) {
        this.log?.error({ err }, 'retention purge failed; will try again at the next run');
      }
    });
  }

  stop(): void {
    void this.task?.stop();
    this.task = undefined;
  }
}
