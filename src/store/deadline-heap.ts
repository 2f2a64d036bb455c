// A binary min-heap of (deadline, key) pairs kept in two parallel arrays: the
// deadlines unboxed in one array of doubles, the keys as the very strings the
// store's map holds. An object per entry (as a generic queue keeps) would cost
// a header, a boxed double and a pointer per record. Pure.

import type { KeyId } from "../wire/key.js";

export class DeadlineHeap {
  private deadlines: number[] = [];
  private ids: KeyId[] = [];

  get length(): number {
    return this.ids.length;
  }

  push(deadline: number, id: KeyId): void {
    const d = this.deadlines;
    const ids = this.ids;
    let i = ids.length;
    d.push(deadline);
    ids.push(id);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (d[parent]! <= deadline) break;
      d[i] = d[parent]!;
      ids[i] = ids[parent]!;
      i = parent;
    }
    d[i] = deadline;
    ids[i] = id;
  }

  /** The earliest deadline, or undefined when empty. */
  peekDeadline(): number | undefined {
    return this.deadlines[0];
  }

  /** The key of the earliest deadline, or undefined when empty. */
  peekId(): KeyId | undefined {
    return this.ids[0];
  }

  /** Removes the earliest entry. */
  pop(): void {
    const d = this.deadlines;
    const ids = this.ids;
    const lastD = d.pop();
    const lastId = ids.pop();
    const n = ids.length;
    if (n === 0 || lastD === undefined || lastId === undefined) return;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && d[child + 1]! < d[child]!) child++;
      if (d[child]! >= lastD) break;
      d[i] = d[child]!;
      ids[i] = ids[child]!;
      i = child;
    }
    d[i] = lastD;
    ids[i] = lastId;
  }

  /** Replaces the contents with `entries` (deadline, key). */
  rebuild(entries: Iterable<readonly [number, KeyId]>): void {
    this.deadlines = [];
    this.ids = [];
    for (const [deadline, id] of entries) this.push(deadline, id);
  }
}
