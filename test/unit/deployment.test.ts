import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

/** What the deployment files must keep out of reach: secrets in the image, unauthenticated ports on every interface. */
describe('deployment files', () => {
  it('keep .env (the secrets) out of the Docker build context, but not the example', () => {
    const patterns = readFileSync('.dockerignore', 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    expect(patterns).toContain('.env');
    expect(patterns).toContain('.env.*');
    expect(patterns).toContain('!.env.example');
  });

  it('open the bot’s health port and the trainer to the container network only where they say so', () => {
    expect(readFileSync('docker-compose.yml', 'utf8')).toMatch(/HEALTH_HOST: 0\.0\.0\.0/);
    expect(readFileSync('trainer/Dockerfile', 'utf8')).toMatch(/"--host", "0\.0\.0\.0"/); // the trainer's own default is 127.0.0.1
  });
});
