import type { TestProject } from 'vitest/node';
import { ensureOllama } from './ollama.js';
import type { PostgresCluster } from './pg-cluster.js';
import { startPostgresCluster } from './pg-cluster.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Admin URL of the Postgres server the suite runs on (tests create their own databases). */
    pgUrl: string;
    /** The real model server (Ollama) and its base model, provisioned by `npm run setup`. */
    ollamaHost: string;
    ollamaBaseModel: string;
  }
}

let cluster: PostgresCluster | undefined;

/** Uses TEST_DATABASE_URL/DATABASE_URL when given (.ci/run starts one); otherwise starts a temporary cluster. */
export async function setup(project: TestProject): Promise<void> {
  let url = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL;
  if (!url) {
    const started = Date.now();
    cluster = await startPostgresCluster();
    url = cluster.url;
    console.log(`[test setup] started a temporary PostgreSQL on 127.0.0.1:${cluster.port} in ${Date.now() - started} ms`);
  }
  project.provide('pgUrl', url);
  const ollama = ensureOllama();
  project.provide('ollamaHost', ollama.host);
  project.provide('ollamaBaseModel', ollama.baseModel);
}

export async function teardown(): Promise<void> {
  cluster?.destroy();
}
