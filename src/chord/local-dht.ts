// The DHT engine of a network of one: every key is ours. Applies the TTL
// policy and versions, keeps values in the store, expires them with one timer.

import type { Logger } from "../log.js";
import type { Clock, PutRequest } from "../ports.js";
import { keyId, Store } from "../store/store.js";
import { VersionClock } from "../store/version.js";
import { Expirer } from "./expirer.js";
import { deadlineOf, type TtlPolicy } from "./ttl.js";

export interface LocalDhtOptions extends TtlPolicy {
  storeQuotaBytes: number;
}

export class LocalDht {
  readonly store: Store;
  private readonly versions = new VersionClock();
  private readonly expirer: Expirer;
  private lastQuotaWarning = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly deps: { clock: Clock; log: Logger },
    private readonly opts: LocalDhtOptions,
  ) {
    this.store = new Store(opts.storeQuotaBytes);
    this.expirer = new Expirer({ store: this.store, clock: deps.clock }, (n) =>
      deps.log.debug({ removed: n }, "expired values removed"),
    );
  }

  async put(req: PutRequest): Promise<void> {
    const now = this.deps.clock.now();
    const rec = {
      value: req.value,
      version: this.versions.next(now),
      deadline: deadlineOf(req.ttl, now, this.opts),
    };
    const outcome = this.store.put(keyId(req.key), rec, now);
    if (outcome === "over-quota") this.warnQuota(now, req.value.length);
    else this.expirer.touch();
  }

  async get(key: Buffer): Promise<Buffer | undefined> {
    return this.store.get(keyId(key), this.deps.clock.now())?.value;
  }

  stop(): void {
    this.expirer.stop();
  }

  /** At most one warning a minute: a flood must not become a log flood. */
  private warnQuota(now: number, valueBytes: number): void {
    if (now - this.lastQuotaWarning < 60_000) return;
    this.lastQuotaWarning = now;
    this.deps.log.warn(
      { quotaBytes: this.opts.storeQuotaBytes, usedBytes: this.store.bytes, valueBytes },
      "store full: PUT refused (store_quota_bytes)",
    );
  }
}
