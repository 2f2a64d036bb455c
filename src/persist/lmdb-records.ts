// Records kept across restarts in LMDB (the `lmdb` package), one database file
// `records.mdb` in `data_dir`: key -> persist/record-codec.ts. An adapter of
// the RecordPersistence port (ports.ts), wired by node.ts.
// - Writes are queued (lmdb batches everything queued in one event-loop turn
//   into one transaction, committed on its own thread) and never awaited one
//   by one; durable() waits for what was queued so far.
// - Durability (docs/persistence.md): "flushed" (the default) waits until the
//   transaction is synced to the disk (fsync), so an acknowledged record
//   survives a power cut; "committed" waits only until it is committed to the
//   OS (in the page cache), which survives the process being killed but not
//   the machine losing power. Either way the file stays consistent: LMDB
//   never overwrites the pages of the last synced transaction.
// - load(): every record in the file, with those whose deadline has passed
//   deleted instead. A file that is not an LMDB database, or a record that does
//   not decode, is a DataDirError (the CLI exits 2).

import { accessSync, closeSync, constants, mkdirSync, openSync, readSync, statSync } from "node:fs";
import { join } from "node:path";
import { type Database, open } from "lmdb";
import type { RecordPersistence } from "../ports.js";
import type { WireRecord } from "../wire/peer.js";
import { DataDirError } from "./data-dir-error.js";
import { decodeRecord, encodeRecord } from "./record-codec.js";

export { DataDirError };

export type Durability = "flushed" | "committed";

/** The database file inside data_dir. */
export const RECORDS_FILE = "records.mdb";
/** LMDB's magic number, in both meta pages of every database file (offset 24 of each). */
const LMDB_MAGIC = 0xbeefc0de;
const MAGIC_AT = 24;
/** From the magic number: the page size (in the free-page tree's record), the last page, the txn id. */
const PAGE_SIZE_AT = 24;
const LAST_PAGE_AT = 120;
const TXN_AT = 128;
const META_BYTES = MAGIC_AT + TXN_AT + 8;

export interface LoadStats {
  /** Records read back. */
  loaded: number;
  /** Records whose deadline had passed: deleted. */
  expired: number;
}

export class LmdbRecords implements RecordPersistence {
  private last: Promise<unknown> = Promise.resolve();
  private failure: Error | undefined;
  private closing: Promise<void> | undefined;
  readonly stats: LoadStats = { loaded: 0, expired: 0 };

  private constructor(
    private readonly db: Database<Buffer, Buffer>,
    readonly dir: string,
    readonly durability: Durability,
  ) {}

  /** Opens (creating if needed) the database in `dir`; throws DataDirError when it cannot. */
  static open(dir: string, durability: Durability = "flushed"): LmdbRecords {
    const fail = (what: string, err?: unknown): never => {
      const why = err === undefined ? "" : `: ${(err as Error).message}`;
      throw new DataDirError(`data_dir ${dir}: ${what}${why}`);
    };
    try {
      mkdirSync(dir, { recursive: true });
    } catch (err) {
      fail("cannot create the folder", err);
    }
    try {
      if (!statSync(dir).isDirectory()) fail("not a folder");
      accessSync(dir, constants.R_OK | constants.W_OK | constants.X_OK);
    } catch (err) {
      if (err instanceof DataDirError) throw err;
      fail("not a writable folder", err);
    }
    const file = join(dir, RECORDS_FILE);
    const problem = checkHeader(file);
    if (problem !== undefined)
      fail(`${RECORDS_FILE} is not a ringdht database (${problem}); move it away to start empty`);
    let db: Database<Buffer, Buffer>;
    try {
      db = open<Buffer, Buffer>({ path: file, encoding: "binary", keyEncoding: "binary" });
    } catch (err) {
      return fail(`cannot open ${RECORDS_FILE}`, err);
    }
    return new LmdbRecords(db, dir, durability);
  }

  put(key: Buffer, rec: WireRecord): void {
    this.track(this.db.put(key, encodeRecord(rec)));
  }

  delete(key: Buffer): void {
    this.track(this.db.remove(key));
  }

  private track(write: Promise<unknown>): void {
    write.catch((err: Error) => {
      this.failure = err;
    });
    this.last = write;
  }

  async durable(): Promise<void> {
    // A failed write is reported once, through `failure` below, whichever path saw it.
    await this.last.catch(() => undefined);
    if (this.durability === "flushed") await this.db.flushed;
    const failure = this.failure;
    if (failure !== undefined) {
      this.failure = undefined;
      throw failure;
    }
  }

  /**
   * Every record whose deadline is at or after `now`; expired ones are deleted
   * from the file. Throws DataDirError at the first record that does not decode.
   */
  *load(now: number): Generator<{ key: Buffer; rec: WireRecord }> {
    const expired: Buffer[] = [];
    try {
      for (const { key, value } of this.db.getRange()) {
        const rec = decodeRecord(key, value);
        if (typeof rec === "string") {
          throw new DataDirError(
            `data_dir ${this.dir}: a record in ${RECORDS_FILE} is corrupt (${rec}); move the file away to start empty`,
          );
        }
        if (rec.deadline < now) {
          expired.push(Buffer.from(key));
          continue;
        }
        this.stats.loaded++;
        yield { key: Buffer.from(key), rec };
      }
    } finally {
      for (const key of expired) this.delete(key);
      this.stats.expired += expired.length;
    }
  }

  /** Records in the file (expired ones included). */
  get count(): number {
    return this.db.getCount();
  }

  /** Waits for queued writes, then closes the file. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.last
      .catch(() => undefined)
      .then(() => this.db.close())
      .catch(() => undefined);
    return this.closing;
  }
}

/**
 * Why `file` cannot be an LMDB database, or undefined (it looks like one, or does
 * not exist yet). LMDB reads its pages through a memory map and checks nothing,
 * so a file cut short would crash the process (SIGBUS) instead of failing. Two
 * meta pages open the file, each with the magic number, the page size, the last
 * page in use and a transaction id; the newer one must fit in the file.
 */
function checkHeader(file: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    return (err as Error).message;
  }
  try {
    const size = statSync(file).size;
    if (size === 0) return undefined;
    const first = Buffer.alloc(META_BYTES);
    if (readSync(fd, first, 0, META_BYTES, 0) < META_BYTES) return `only ${size} bytes`;
    if (first.readUInt32LE(MAGIC_AT) !== LMDB_MAGIC) return "no LMDB header";
    const pageSize = first.readUInt32LE(MAGIC_AT + PAGE_SIZE_AT);
    if (pageSize < 512 || pageSize > 65_536 || (pageSize & (pageSize - 1)) !== 0)
      return `page size ${pageSize}`;
    const second = Buffer.alloc(META_BYTES);
    if (readSync(fd, second, 0, META_BYTES, pageSize) < META_BYTES) return `only ${size} bytes`;
    if (second.readUInt32LE(MAGIC_AT) !== LMDB_MAGIC) return "no second LMDB header";
    const txn = (b: Buffer) => b.readBigUInt64LE(MAGIC_AT + TXN_AT);
    const meta = txn(second) > txn(first) ? second : first;
    const pages = meta.readBigUInt64LE(MAGIC_AT + LAST_PAGE_AT) + 1n;
    if (BigInt(size) < pages * BigInt(pageSize))
      return `${size} bytes where ${pages} pages of ${pageSize} are in use: cut short`;
    return undefined;
  } finally {
    closeSync(fd);
  }
}
