// The rollback phase's failing check: a rollout webhook both controllers call at every analysis step,
// served by the benchmark on loopback, answering 500 to every call. It records when each Canary's
// first check failed, which is where a rollback's lateness is counted from.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Flavour } from "./fleet.ts";

export class FailingGate {
  private readonly server: Server;
  private readonly first = new Map<string, number>();
  private readonly now: () => number;

  /** `now` is the benchmark's clock (seconds since its start), the one the recorders use. */
  constructor(now: () => number) {
    this.now = now;
    this.server = createServer((req, res) => {
      const key = (req.url ?? "").slice(1);
      if (!this.first.has(key)) this.first.set(key, this.now());
      req.resume();
      res.writeHead(500, { "content-type": "text/plain" }).end("bench: this check fails on purpose\n");
    });
  }

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(0, "127.0.0.1", () => resolve());
    });
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** The webhook URL for one Canary of one controller. */
  url(flavour: Flavour, name: string): string {
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}/${flavour}/${name}`;
  }

  /** When the Canary's first check failed, on the benchmark's clock; undefined if it was never called. */
  firstFailure(flavour: Flavour, name: string): number | undefined {
    return this.first.get(`${flavour}/${name}`);
  }
}
