/** A dataset source that is empty or malformed; the message names the source. */
export class DatasetSourceError extends Error {
  override name = 'DatasetSourceError';
  constructor(
    public readonly source: string,
    public readonly problem: string,
  ) {
    super(`${source}: ${problem}`);
  }
}
