/**
 * The controller command's flags as commander hands them over, and its leader election options
 * (controller-runtime's names and defaults): apart from the controller itself, so that registering
 * the command loads no Kubernetes client.
 */

import { Option } from "commander";
import type { ProviderSpelling } from "../../api/canary.ts";
import type { Sigv4Flags } from "../sigv4-flags.ts";

export const DEFAULT_LEASE_NAME = "kanaria-leader";

export interface LeaderElectionFlags {
  leaderElect: boolean;
  leaderElectionNamespace?: string;
  leaderElectionId: string;
  leaderElectionLeaseDuration: string;
  leaderElectionRenewDeadline: string;
  leaderElectionRetryPeriod: string;
}

export interface ControllerFlags extends LeaderElectionFlags, Sigv4Flags {
  metricsBindAddress: string;
  kubeconfig?: string;
  namespace: string[];
  logLevel: string;
  provider: ProviderSpelling;
  metricsServer?: string;
  nginxAnnotationsPrefix: string;
  includeLabelPrefix: string;
  workers: string;
  alertProvider?: string;
  clusterName?: string;
  alertRetryTimeout: string;
}

export function leaderElectionOptions(): Option[] {
  return [
    new Option(
      "--leader-elect",
      "only the holder of a coordination.k8s.io Lease reconciles (run several replicas)",
    ).default(false),
    new Option(
      "--leader-election-namespace <namespace>",
      "namespace of the Lease (default: the Pod's namespace, else kanaria-system)",
    ),
    new Option("--leader-election-id <name>", "name of the Lease").default(DEFAULT_LEASE_NAME),
    new Option(
      "--leader-election-lease-duration <duration>",
      "how long the others wait after the leader's last renewal",
    ).default("15s"),
    new Option(
      "--leader-election-renew-deadline <duration>",
      "how long the leader retries renewing before it stops leading",
    ).default("10s"),
    new Option(
      "--leader-election-retry-period <duration>",
      "time between attempts to take or renew the Lease",
    ).default("2s"),
  ];
}
