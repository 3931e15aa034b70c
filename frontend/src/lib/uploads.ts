/** Which endpoint takes a chosen file, and how its verdicts read. */

export type Verdict = "added" | "duplicate" | "replaced" | "rejected";

export interface FileVerdict {
  path: string;
  status: Verdict;
  detail: string;
}

const ARCHIVE = /\.(zip|tar|tgz|tar\.gz)$/i;

/** Archives go to POST /datasets/{id}/archives, images to POST /datasets/{id}/items. */
export function isArchive(name: string): boolean {
  return ARCHIVE.test(name);
}

/** Counts per verdict, in a fixed order, leaving out the zeros. */
export function verdictCounts(files: FileVerdict[]): [Verdict, number][] {
  const order: Verdict[] = ["added", "replaced", "duplicate", "rejected"];
  return order
    .map((verdict): [Verdict, number] => [verdict, files.filter((file) => file.status === verdict).length])
    .filter(([, count]) => count > 0);
}

/** Runs ``work`` over ``items`` with at most ``limit`` at a time. */
export async function inBatches<T>(items: T[], limit: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next;
      next += 1;
      await work(items[index] as T, index);
    }
  });
  await Promise.all(lanes);
}
