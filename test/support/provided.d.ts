// Values that test/support/global-setup.ts provides to every integration test file;
// read them with `inject("kubeconfig")` etc. from "vitest".
import "vitest";

declare module "vitest" {
  export interface ProvidedContext {
    /** Absolute path of a kubeconfig for the test cluster (admin rights). */
    kubeconfig: string;
    /** "local" (our own control plane), "existing" ($KUBECONFIG) or "k3s" (testcontainers). */
    clusterMode: "local" | "existing" | "k3s";
    /** State dir of the local cluster (KANARIA_CLUSTER_DIR), "" when not local. */
    clusterDir: string;
    /** Version the apiserver must report (our pinned build), "" when unknown. */
    kubernetesVersion: string;
    /** Base URL of Prometheus, e.g. http://127.0.0.1:41234, "" when there is none. */
    prometheusUrl: string;
    /** Dir whose *.json file_sd files Prometheus scrapes (1s refresh), "" when unknown. */
    prometheusTargetsDir: string;
    /** Base URL of the CloudWatch endpoint (moto), "" when there is none. */
    cloudwatchEndpoint: string;
    /**
     * Base URL of the SigV4-checking proxy in front of Prometheus (test/cluster/sigv4_proxy.py, the
     * Amazon Managed Service for Prometheus stand-in), "" when there is none.
     */
    sigv4PrometheusUrl: string;
    /** The region the SigV4 proxy expects in the signing scope. */
    sigv4Region: string;
    /**
     * The real data plane (KANARIA_DATAPLANE=traefik: Traefik, podinfo processes, the load tester), or
     * undefined when the cluster has none.
     */
    dataplane: DataPlane | undefined;
  }
  /** What `cluster.sh up` with KANARIA_DATAPLANE=traefik wrote into the env file. */
  export interface DataPlane {
    /** Traefik's web entrypoint, the same URL inside the data plane's namespace and on the host. */
    proxyUrl: string;
    /** namespace/name of the Gateway Traefik serves on proxyUrl (routes from every namespace). */
    gateway: string;
    gatewayClass: string;
    /** The IngressClass Traefik's ingress-nginx provider serves (controller k8s.io/ingress-nginx). */
    ingressClass: string;
    /** Flagger's load tester (webhook URL base, ends with /). */
    loadtesterUrl: string;
  }
}
