// The runner's side of one system's child process: spawn it, send requests
// (protocol.ts) and await their replies, and read its memory and CPU time from
// /proc (the same way for the Node children and the Python one).

import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import type { PeerOp, PeerReplyLine, PeerRequests } from "./protocol.js";

/** Clock ticks per second of /proc/<pid>/stat's times (100 on Linux x86-64). */
const CLK_TCK = 100;

export interface ProcSample {
  rssBytes: number;
  /** user + system CPU time, seconds. */
  cpuSeconds: number;
}

/** `pid` and its descendants, from /proc/<pid>/task/<tid>/children. */
function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${out[i]}/task`);
    } catch {
      continue;
    }
    for (const tid of tasks) {
      try {
        const kids = readFileSync(`/proc/${out[i]}/task/${tid}/children`, "utf8").trim();
        if (kids !== "") out.push(...kids.split(" ").map(Number));
      } catch {
        // gone meanwhile
      }
    }
  }
  return out;
}

export class ChildHandle {
  private nextId = 0;
  private readonly pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void }
  >();
  private readonly exited: Promise<void>;

  private constructor(
    private readonly proc: ChildProcess,
    readonly version: string,
  ) {
    this.exited = new Promise((resolve) =>
      proc.once("exit", (code) => {
        for (const p of this.pending.values()) p.reject(new Error(`child exited with ${code}`));
        this.pending.clear();
        resolve();
      }),
    );
  }

  /** Spawns `command args`; resolves once the child said it is ready. */
  static spawn(command: string, args: string[], label: string): Promise<ChildHandle> {
    const proc = spawn(command, args, { stdio: ["pipe", "pipe", "pipe"] });
    let handle: ChildHandle | undefined;
    proc.stderr!.on("data", (chunk: Buffer) => {
      for (const line of chunk.toString().split("\n"))
        if (line.trim() !== "") process.stderr.write(`  [${label}] ${line}\n`);
    });
    return new Promise((resolve, reject) => {
      proc.once("error", reject);
      proc.once("exit", (code) => reject(new Error(`${label} exited early with ${code}`)));
      createInterface({ input: proc.stdout! }).on("line", (text) => {
        let msg: PeerReplyLine;
        try {
          msg = JSON.parse(text) as PeerReplyLine;
        } catch {
          process.stderr.write(`  [${label} stdout] ${text}\n`);
          return;
        }
        if ("ready" in msg) {
          handle = new ChildHandle(proc, msg.version);
          resolve(handle);
          return;
        }
        const p = handle?.pending.get(msg.id);
        if (p === undefined) return;
        handle!.pending.delete(msg.id);
        if (msg.ok) p.resolve(msg.result);
        else p.reject(new Error(`${label}: ${msg.error}`));
      });
    });
  }

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  request<K extends PeerOp>(
    op: K,
    args: PeerRequests[K]["args"],
    timeoutMs = 300_000,
  ): Promise<PeerRequests[K]["result"]> {
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${op} took over ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as PeerRequests[K]["result"]);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.proc.stdin!.write(`${JSON.stringify({ id, op, args })}\n`);
    });
  }

  /**
   * RSS and CPU time of the child and every process it started (OpenDHT's
   * driver spreads large rings over helper processes), from /proc.
   */
  sample(): ProcSample {
    let rssBytes = 0;
    let cpuSeconds = 0;
    for (const pid of processTree(this.pid)) {
      try {
        const status = readFileSync(`/proc/${pid}/status`, "utf8");
        rssBytes += Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? Number.NaN) * 1024;
        const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
        // Fields after the command name (which may hold spaces) start at field 3.
        const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        cpuSeconds += (Number(fields[11]) + Number(fields[12])) / CLK_TCK; // utime (14), stime (15)
      } catch {
        // a process that ended meanwhile
      }
    }
    return { rssBytes, cpuSeconds };
  }

  /** Asks the child to close its nodes and exit; kills it if it does not within 15 s. */
  async close(): Promise<void> {
    await Promise.race([this.request("close", {}, 15_000).catch(() => null), this.exited]);
    const killer = setTimeout(() => this.proc.kill("SIGKILL"), 15_000);
    await this.exited;
    clearTimeout(killer);
  }

  kill(): void {
    this.proc.kill("SIGKILL");
  }
}
