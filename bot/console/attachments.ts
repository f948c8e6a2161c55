import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** The terminal cannot show images: attachments are saved where the user can open them. */
export async function saveAttachments(out: (text: string) => void, dir: string, files: readonly { name: string; data: Buffer }[]): Promise<void> {
  for (const f of files) {
    await mkdir(dir, { recursive: true });
    const file = path.join(dir, path.basename(f.name));
    await writeFile(file, f.data);
    out(`(attachment saved: ${file})\n`);
  }
}
