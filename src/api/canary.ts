import { z } from "zod";
import { alertRecord } from "./alert-outbox.ts";
import {
  API_VERSION,
  type CrossFieldRule,
  condition,
  duration,
  intOrString,
  localObjectReference,
  namespacedReference,
  objectMeta,
  stringMap,
  withRules,
} from "./common.ts";

export const PROVIDERS = ["kubernetes", "nginx", "gatewayapi", "appmesh"] as const;
export type ProviderName = (typeof PROVIDERS)[number];

/**
 * Flagger's versioned spellings of the providers kanaria routes for, and the router each runs. Flagger's
 * CRD has no plain gatewayapi, so Gateway API Canaries written for Flagger carry one of these.
 */
export const PROVIDER_ALIASES = {
  "gatewayapi:v1": "gatewayapi",
  "gatewayapi:v1beta1": "gatewayapi",
  "appmesh:v1beta2": "appmesh",
} as const satisfies Record<string, ProviderName>;
export const PROVIDER_SPELLINGS = [
  ...PROVIDERS,
  ...(Object.keys(PROVIDER_ALIASES) as (keyof typeof PROVIDER_ALIASES)[]),
] as const;
export type ProviderSpelling = (typeof PROVIDER_SPELLINGS)[number];

/** The router a spec.provider spelling runs: gatewayapi:v1 runs gatewayapi. */
export function routerOf(spelling: ProviderSpelling): ProviderName {
  return (PROVIDER_ALIASES as Record<string, ProviderName>)[spelling] ?? (spelling as ProviderName);
}

/** Flagger's CRD allows "" where a default applies; it means the default (the field left out). */
const orEmpty = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(["", ...values]).transform((v) => (v === "" ? undefined : (v as T[number])));

/** Metrics every router knows how to query without a MetricTemplate (as in Flagger). */
export const BUILTIN_METRICS = ["request-success-rate", "request-duration"] as const;

export const WEBHOOK_TYPES = [
  "confirm-rollout",
  "pre-rollout",
  "rollout",
  "confirm-traffic-increase",
  "confirm-promotion",
  "post-rollout",
  "rollback",
  "event",
] as const;

export const PHASES = [
  "Initializing",
  "Initialized",
  "Waiting",
  "Progressing",
  "WaitingPromotion",
  "Promoting",
  "Finalising",
  "Succeeded",
  "Failed",
  "Terminating",
] as const;
export type Phase = (typeof PHASES)[number];

const weight = (description: string) => z.number().int().min(0).max(100).meta({ description });

const customMetadata = (what: string) =>
  z
    .strictObject({
      labels: stringMap("Labels to add.").optional(),
      annotations: stringMap("Annotations to add.").optional(),
    })
    .meta({ description: `Labels and annotations added to the ${what}.` });

const stringMatch = z
  .strictObject({
    exact: z.string().optional(),
    prefix: z.string().optional(),
    suffix: z.string().optional(),
    regex: z.string().optional(),
  })
  .meta({ description: "Exactly one of exact, prefix, suffix or regex." });

export const httpMatch = z
  .strictObject({
    headers: z
      .record(z.string(), stringMatch)
      .optional()
      .meta({ description: 'Header matches; the key "cookie" matches a cookie for nginx A/B tests.' }),
    uri: stringMatch.optional(),
    method: stringMatch.optional(),
    queryParams: z.record(z.string(), stringMatch).optional(),
    sourceLabels: stringMap("Match requests from workloads with these labels (meshes only).").optional(),
  })
  .meta({ description: "A request match for A/B testing (Flagger's HTTPMatchRequest)." });

const headerOperations = z.strictObject({
  add: stringMap("Headers to add.").optional(),
  set: stringMap("Headers to set.").optional(),
  remove: z.array(z.string()).optional(),
});

const parentReference = z
  .strictObject({
    group: z.string().optional().meta({
      description:
        'Group of the parent; omitted: gateway.networking.k8s.io, or the core group for kind Service (GAMMA), which is also written "" or core.',
    }),
    kind: z
      .string()
      .optional()
      .meta({ description: "Gateway (the default) or Service (a GAMMA mesh parent)." }),
    namespace: z.string().optional(),
    name: z.string().min(1),
    sectionName: z.string().optional(),
    port: z.number().int().min(1).max(65535).optional(),
  })
  .meta({ description: "A Gateway API parentRef (the Gateway the generated HTTPRoute attaches to)." });

/** An HTTP cookie attribute value: no ";" (it would start another attribute) and no control characters. */
const cookieAttribute = (what: string) =>
  z
    .string()
    .min(1)
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
    .regex(/^[^;\x00-\x1f\x7f]+$/, { message: `${what} must not contain ";" or control characters` })
    .meta({ description: what });

/** Flagger's spec.service.rewrite: a Gateway API URLRewrite filter on the generated HTTPRoute. */
const httpRewrite = z
  .strictObject({
    uri: z.string().optional().meta({ description: "New path, or new prefix with type ReplacePrefixMatch." }),
    authority: z.string().optional().meta({ description: "New Host header (URLRewrite hostname)." }),
    type: z.enum(["ReplaceFullPath", "ReplacePrefixMatch"]).optional().meta({
      description: "How uri replaces the path; defaults to ReplaceFullPath.",
    }),
  })
  .meta({
    description: "Rewrites the path and/or Host of requests on the generated HTTPRoute (gatewayapi).",
  });

/** Flagger's spec.service.mirror: a Gateway API RequestMirror filter per entry. */
const requestMirror = z
  .strictObject({
    backendRef: z.strictObject({
      group: z.string().optional().meta({ description: 'Defaults to "" (core).' }),
      kind: z.string().optional().meta({ description: "Defaults to Service." }),
      name: z.string().min(1),
      namespace: z.string().optional(),
      port: z.number().int().min(1).max(65535).optional(),
    }),
    percent: z
      .number()
      .int()
      .min(0)
      .max(100)
      .optional()
      .meta({ description: "Share of requests mirrored; defaults to all." }),
  })
  .meta({ description: "A destination that receives a copy of the requests; its responses are dropped." });

const corsPolicy = withRules(
  z
    .strictObject({
      allowOrigin: z
        .array(z.string())
        .optional()
        .meta({ description: 'Origins allowed, e.g. "https://example.com", or "*".' }),
      allowOrigins: z.array(stringMatch).optional().meta({
        description: "Istio's origin patterns; refused: the Gateway API CORS filter takes allowOrigin.",
      }),
      allowMethods: z.array(z.string()).optional(),
      allowHeaders: z.array(z.string()).optional(),
      exposeHeaders: z.array(z.string()).optional(),
      maxAge: duration("How long a preflight answer may be cached, e.g. 24h (at least 1s).").optional(),
      allowCredentials: z.boolean().optional(),
    })
    .meta({ description: "A Gateway API CORS filter on the generated HTTPRoute (gatewayapi)." }),
  [
    {
      cel: "!has(self.allowOrigins)",
      message:
        "corsPolicy.allowOrigins (string patterns) cannot be written as a Gateway API CORS filter: list the origins in corsPolicy.allowOrigin",
      path: ["allowOrigins"],
      holds: (c) => c.allowOrigins === undefined,
    },
  ],
);

export const canaryService = z
  .strictObject({
    name: z.string().optional().meta({ description: "Apex Service name; defaults to the targetRef name." }),
    port: z
      .number()
      .int()
      .min(1)
      .max(65535)
      .meta({ description: "Port of the apex, -primary and -canary Services." }),
    portName: z.string().optional().meta({ description: 'Name of the Service port; defaults to "http".' }),
    targetPort: intOrString("Container port (number or name); defaults to port.").optional(),
    appProtocol: z.string().optional(),
    portDiscovery: z
      .boolean()
      .optional()
      .meta({ description: "Add every other container port of the target to the generated Services." }),
    headless: z
      .boolean()
      .optional()
      .meta({ description: "Generate headless Services (clusterIP: None), as Flagger does." }),
    trafficDistribution: z.enum(["PreferClose", "PreferSameZone", "PreferSameNode"]).optional().meta({
      description: "spec.trafficDistribution of the generated Services.",
    }),
    unmanagedMetadata: z
      .strictObject({
        annotations: z.array(z.string()).optional(),
        labels: z.array(z.string()).optional(),
      })
      .optional()
      .meta({
        description:
          "Label and annotation keys of the generated Services that kanaria leaves as found (set by another controller).",
      }),
    timeout: duration(
      "Request timeout of the generated route, e.g. 15s (gatewayapi: timeouts.request; appmesh: route and listener timeout).",
    ).optional(),
    backendTimeout: duration(
      "Timeout of each request from the gateway to a backend (HTTPRoute timeouts.backendRequest; gatewayapi).",
    ).optional(),
    rewrite: httpRewrite.optional(),
    mirror: z.array(requestMirror).max(16).optional().meta({
      description: "Destinations that receive a copy of every request (gatewayapi), beside analysis.mirror.",
    }),
    corsPolicy: corsPolicy.optional(),
    retries: z
      .strictObject({
        attempts: z.number().int().min(0).optional(),
        perTryTimeout: duration("Timeout per retry").optional(),
        retryOn: z.string().optional(),
      })
      .optional()
      .meta({ description: "Retry policy of the App Mesh route (appmesh)." }),
    headers: z
      .strictObject({ request: headerOperations.optional(), response: headerOperations.optional() })
      .optional()
      .meta({ description: "Request and response header changes on the generated HTTPRoute (gatewayapi)." }),
    match: z.array(httpMatch).optional().meta({
      description:
        "Requests that reach the apex route at all (gatewayapi: HTTPRoute matches; appmesh: one URI prefix).",
    }),
    hosts: z.array(z.string()).optional().meta({
      description: "Hostnames of the generated route (gatewayapi; appmesh: App Mesh gateway annotations).",
    }),
    gatewayRefs: z
      .array(parentReference)
      .optional()
      .meta({ description: "Gateways the generated HTTPRoute attaches to." }),
    meshName: z.string().optional().meta({ description: "App Mesh name (appmesh)." }),
    backends: z
      .array(z.string())
      .optional()
      .meta({ description: "Virtual services the canary may call (appmesh)." }),
    apex: customMetadata("apex Service").optional(),
    primary: customMetadata("-primary Service").optional(),
    canary: customMetadata("-canary Service").optional(),
  })
  .meta({ description: "The Services (and routes) kanaria generates in front of the primary and canary." });

const thresholdRange = withRules(
  z
    .strictObject({
      min: z.number().optional().meta({ description: "The check fails below this value." }),
      max: z.number().optional().meta({ description: "The check fails above this value." }),
    })
    .meta({ description: "Range the measured value must stay within (inclusive)." }),
  [
    {
      cel: "!has(self.min) || !has(self.max) || self.min <= self.max",
      message: "thresholdRange.min must not be greater than thresholdRange.max",
      path: [],
      holds: (r) => r.min === undefined || r.max === undefined || r.min <= r.max,
    },
    {
      cel: "has(self.min) || has(self.max)",
      message: "thresholdRange needs min, max or both",
      path: [],
      holds: (r) => r.min !== undefined || r.max !== undefined,
    },
  ],
);

export const COMPARE_DIRECTIONS = ["increase", "decrease", "either"] as const;

/** Canary vs primary: a Mann-Whitney U test with an effect-size tolerance (src/stats/compare.ts). */
export const metricCompare = z
  .strictObject({
    against: z
      .enum(["primary"])
      .optional()
      .meta({ description: "What the canary is compared with; only primary (the default)." }),
    direction: z.enum(COMPARE_DIRECTIONS).optional().meta({
      description:
        "Which change fails the canary: increase (latency, errors), decrease (success rate) or either (the default).",
    }),
    tolerance: z.number().min(0).optional().meta({
      description:
        "Relative difference of the medians tolerated even when significant, e.g. 0.25 (the default) for 25 %.",
    }),
    confidence: z.number().min(0.5).max(0.9999).optional().meta({
      description:
        "A difference is significant when its p-value is below 1 - confidence (0.5 to 0.9999); defaults to 0.98.",
    }),
  })
  .meta({
    description:
      "Judge the canary against the primary: each step samples the metric for both over the interval and fails the check when the canary is significantly worse beyond the tolerance.",
  });

export const canaryMetric = withRules(
  z.strictObject({
    name: z
      .string()
      .min(1)
      .max(63)
      .meta({
        description: `Metric name; ${BUILTIN_METRICS.join(" and ")} are built in, anything else needs templateRef.`,
      }),
    interval: duration("Window of the query ({{ interval }}); defaults to 1m.").optional(),
    thresholdRange: thresholdRange.optional(),
    threshold: z.number().optional().meta({
      description:
        "Deprecated in Flagger, evaluated as there: the minimum for request-success-rate, the maximum (ms) for request-duration and for any other query. Use thresholdRange.",
    }),
    query: z.string().min(1).optional().meta({
      description:
        "Deprecated in Flagger, evaluated as there: an inline PromQL query run against metricsServer (or the controller's Prometheus). Use a MetricTemplate.",
    }),
    templateRef: namespacedReference("MetricTemplate that holds the query.").optional(),
    templateVariables: stringMap("Values for {{ variables.KEY }} in the template query.").optional(),
    compare: metricCompare.optional(),
    onNoData: z.enum(["fail", "skip"]).optional().meta({
      description:
        "What an empty result means. fail (default): inconclusive, the step is held (never passed) and the canary rolled back past analysis.inconclusiveTimeout. skip: neither pass nor fail, but the canary is not promoted while the metric has no data in the current step.",
    }),
  }),
  [
    {
      cel: "has(self.templateRef) || has(self.query) || self.name in ['request-success-rate', 'request-duration']",
      message: "a metric that is not built in (request-success-rate, request-duration) needs templateRef",
      path: ["templateRef"],
      holds: (m) =>
        m.templateRef !== undefined ||
        m.query !== undefined ||
        (BUILTIN_METRICS as readonly string[]).includes(m.name),
    },
    // Flagger would run both queries of these metrics and judge each; kanaria judges one query per metric.
    {
      cel: "!has(self.query) || (!has(self.templateRef) && !(self.name in ['request-success-rate', 'request-duration']))",
      message:
        "query is an inline query for a metric of its own: remove it, or give the metric a name other than request-success-rate and request-duration and no templateRef",
      path: ["query"],
      holds: (m) =>
        m.query === undefined ||
        (m.templateRef === undefined && !(BUILTIN_METRICS as readonly string[]).includes(m.name)),
    },
    // Flagger ignores threshold when thresholdRange is set; a field kanaria takes is one it acts on.
    {
      cel: "!has(self.threshold) || !has(self.thresholdRange)",
      message:
        "threshold is Flagger's deprecated form of thresholdRange and is ignored next to it: remove threshold",
      path: ["threshold"],
      holds: (m) => m.threshold === undefined || m.thresholdRange === undefined,
    },
  ],
);

export const canaryWebhook = z.strictObject({
  name: z.string().min(1),
  type: orEmpty(WEBHOOK_TYPES)
    .optional()
    .meta({ description: 'When the hook runs; defaults to rollout ("" too, as in Flagger).' }),
  url: z.string().url(),
  disableTLS: z.boolean().optional().meta({
    description: "Call an https URL without verifying the server's certificate (Flagger's disableTLS).",
  }),
  timeout: duration("Request timeout; defaults to 10s.").optional(),
  retries: z.number().int().min(0).optional(),
  muteAlert: z.boolean().optional(),
  metadata: stringMap("Sent to the webhook as is.").optional(),
});

/** A recurring time window: opens at each time the cron schedule fires and stays open for duration. */
export const timeWindow = z
  .strictObject({
    schedule: z.string().min(1).meta({
      description: 'Cron expression of the openings (5 fields, or 6 with seconds), e.g. "0 9 * * 1-5".',
    }),
    duration: duration("How long the window stays open after each opening, e.g. 8h."),
    timeZone: z
      .string()
      .optional()
      .meta({ description: "IANA time zone of the schedule, e.g. Europe/Berlin; defaults to UTC." }),
  })
  .meta({ description: "A window that opens on a cron schedule, in a time zone, for a duration." });

export const canaryAlert = z.strictObject({
  name: z.string().min(1),
  severity: orEmpty(["info", "warn", "error"])
    .optional()
    .meta({ description: 'Least severity sent; defaults to info ("" too, as in Flagger).' }),
  providerRef: namespacedReference("AlertProvider to send to."),
  steps: z
    .boolean()
    .optional()
    .meta({ description: "Also send a message (info) at every analysis step; default false." }),
});

export const canaryAnalysis = withRules(
  z.strictObject({
    interval: duration("Time between steps; defaults to 60s, at least 10s.").optional(),
    threshold: z
      .number()
      .int()
      .min(1)
      .optional()
      .meta({ description: "Failed checks before rollback; defaults to 1." }),
    inconclusiveTimeout: duration(
      "How long a step is held while its checks are inconclusive (provider error, timeout, no data) before the canary is rolled back for the outage; counted from when the step fell due; defaults to progressDeadlineSeconds.",
    ).optional(),
    maxWeight: weight("Canary weight at which promotion starts; defaults to 100.").optional(),
    stepWeight: z
      .number()
      .int()
      .min(1)
      .max(100)
      .optional()
      .meta({ description: "Weight added each step (canary strategy)." }),
    stepWeights: z
      .array(weight("A step's weight"))
      .min(1)
      .max(100)
      .optional()
      .meta({ description: "Explicit weights, ascending." }),
    stepWeightPromotion: weight(
      "Weight moved to the primary each step during promotion; default all at once.",
    ).optional(),
    iterations: z
      .number()
      .int()
      .min(1)
      .optional()
      .meta({ description: "Checks to pass (blue/green and A/B)." }),
    match: z
      .array(httpMatch)
      .max(16)
      .optional()
      .meta({ description: "A/B: requests that go to the canary." }),
    mirror: z.boolean().optional(),
    mirrorWeight: weight("Share of traffic mirrored to the canary.").optional(),
    primaryReadyThreshold: weight(
      "Percentage of primary pods that must be ready; defaults to 100.",
    ).optional(),
    canaryReadyThreshold: weight("Percentage of canary pods that must be ready; defaults to 100.").optional(),
    sessionAffinity: z
      .strictObject({
        cookieName: z.string().min(1),
        maxAge: z.number().int().min(0).optional(),
        primaryCookieName: z.string().optional(),
        domain: cookieAttribute("Domain attribute of the cookie").optional(),
        path: cookieAttribute("Path attribute of the cookie").optional(),
        sameSite: z.enum(["Strict", "Lax", "None"]).optional(),
        secure: z.boolean().optional(),
        httpOnly: z.boolean().optional(),
        partitioned: z.boolean().optional(),
      })
      .optional(),
    metrics: z.array(canaryMetric).max(32).optional(),
    webhooks: z.array(canaryWebhook).max(32).optional(),
    alerts: z.array(canaryAlert).max(16).optional(),
    promotionWindows: z.array(timeWindow).max(16).optional().meta({
      description:
        "When promotion may happen; without any, at any time. A passing release waits for the next one.",
    }),
    freezeWindows: z.array(timeWindow).max(16).optional().meta({
      description: "When promotion may not happen (a freeze); rollbacks are never delayed.",
    }),
  }),
  [
    {
      cel: "!(has(self.stepWeight) && has(self.stepWeights))",
      message: "stepWeight and stepWeights are mutually exclusive: keep one",
      path: ["stepWeights"],
      holds: (a) => a.stepWeight === undefined || a.stepWeights === undefined,
    },
    // Only the mirroring of analysis.mirror reads it (Flagger's routers alike): alone it would do nothing.
    {
      cel: "!has(self.mirrorWeight) || (has(self.mirror) && self.mirror)",
      message:
        "mirrorWeight is the share of requests analysis.mirror copies to the canary, and mirror is not true: set mirror: true or remove mirrorWeight",
      path: ["mirrorWeight"],
      holds: (a) => a.mirrorWeight === undefined || a.mirror === true,
    },
    {
      cel: "!has(self.stepWeights) || self.stepWeights.isSorted()",
      message: "stepWeights must be in ascending order",
      path: ["stepWeights"],
      holds: (a) => (a.stepWeights ?? []).every((w, i, all) => i === 0 || (all[i - 1] as number) <= w),
    },
  ],
);

/** Flagger's targetRef kinds kanaria releases; Flagger's Service targets (Knative, upstream apps) are not. */
export const TARGET_KINDS = ["Deployment", "DaemonSet"] as const;
export type TargetKind = (typeof TARGET_KINDS)[number];

const targetRef = withRules(
  z
    .strictObject({
      apiVersion: z.string().optional().meta({ description: "apps/v1 (the default)." }),
      kind: z.string().optional().meta({ description: "Deployment (the default) or DaemonSet." }),
      name: z.string().min(1),
    })
    .meta({ description: "The Deployment or DaemonSet under release." }),
  [
    {
      cel: "!has(self.kind) || self.kind in ['Deployment', 'DaemonSet']",
      message:
        "kanaria releases a Deployment or a DaemonSet: set targetRef.kind to Deployment or DaemonSet (Flagger's Service targets are not supported)",
      path: ["kind"],
      holds: (r) => r.kind === undefined || (TARGET_KINDS as readonly string[]).includes(r.kind),
    },
    {
      cel: "!has(self.apiVersion) || self.apiVersion == 'apps/v1'",
      message: "Deployments and DaemonSets are apps/v1: set targetRef.apiVersion to apps/v1 or remove it",
      path: ["apiVersion"],
      holds: (r) => r.apiVersion === undefined || r.apiVersion === "apps/v1",
    },
  ],
);

const ingressRef = withRules(
  z
    .strictObject({
      apiVersion: z.string().optional().meta({ description: "networking.k8s.io/v1 (the default)." }),
      kind: z.string().optional().meta({ description: "Ingress (the default)." }),
      name: z.string().min(1),
    })
    .meta({ description: "The Ingress the nginx router clones as <name>-canary." }),
  [
    {
      cel: "!has(self.kind) || self.kind == 'Ingress'",
      message: "ingressRef names an Ingress: set ingressRef.kind to Ingress or remove it",
      path: ["kind"],
      holds: (r) => r.kind === undefined || r.kind === "Ingress",
    },
    {
      cel: "!has(self.apiVersion) || self.apiVersion == 'networking.k8s.io/v1'",
      message:
        "the nginx router reads networking.k8s.io/v1 Ingresses: set ingressRef.apiVersion to networking.k8s.io/v1 or remove it",
      path: ["apiVersion"],
      holds: (r) => r.apiVersion === undefined || r.apiVersion === "networking.k8s.io/v1",
    },
  ],
);

/** The autoscalers kanaria copies for the primary, by kind, with the apiVersion each is read at. */
export const AUTOSCALER_KINDS = ["HorizontalPodAutoscaler", "ScaledObject"] as const;
export type AutoscalerKind = (typeof AUTOSCALER_KINDS)[number];

const autoscalerRef = withRules(
  z
    .strictObject({
      apiVersion: z.string().meta({
        description:
          "autoscaling/v2 for a HorizontalPodAutoscaler (any autoscaling/ version names the same object; it is read at v2), keda.sh/v1alpha1 for a KEDA ScaledObject.",
      }),
      kind: z.enum(AUTOSCALER_KINDS).meta({
        description: "HorizontalPodAutoscaler (autoscaling/v2) or ScaledObject (keda.sh/v1alpha1).",
      }),
      name: z.string().min(1).meta({
        description:
          "The autoscaler of the target; kanaria keeps <name>-primary, a copy aimed at <target>-primary.",
      }),
      primaryScalerReplicas: withRules(
        z.strictObject({
          minReplicas: z.number().int().min(1).optional(),
          maxReplicas: z.number().int().min(1).optional(),
        }),
        [
          {
            cel: "!has(self.minReplicas) || !has(self.maxReplicas) || self.minReplicas <= self.maxReplicas",
            message: "minReplicas must not be above maxReplicas",
            path: ["minReplicas"],
            holds: (r) =>
              r.minReplicas === undefined || r.maxReplicas === undefined || r.minReplicas <= r.maxReplicas,
          },
        ],
      )
        .optional()
        .meta({ description: "Replica bounds of <name>-primary instead of the referenced autoscaler's." }),
      primaryScalerQueries: stringMap(
        "ScaledObject only: trigger name -> the query <name>-primary uses for that trigger (default: the trigger's query with the target's name changed to <target>-primary).",
      ).optional(),
    })
    .meta({ description: "The autoscaler of the target (HorizontalPodAutoscaler or KEDA ScaledObject)." }),
  [
    {
      cel: "self.kind != 'HorizontalPodAutoscaler' || self.apiVersion.startsWith('autoscaling/')",
      message:
        "a HorizontalPodAutoscaler is in the autoscaling group: set autoscalerRef.apiVersion to autoscaling/v2",
      path: ["apiVersion"],
      holds: (r) => r.kind !== "HorizontalPodAutoscaler" || r.apiVersion.startsWith("autoscaling/"),
    },
    {
      cel: "self.kind != 'ScaledObject' || self.apiVersion == 'keda.sh/v1alpha1'",
      message:
        "a KEDA ScaledObject is served as keda.sh/v1alpha1: set autoscalerRef.apiVersion to keda.sh/v1alpha1",
      path: ["apiVersion"],
      holds: (r) => r.kind !== "ScaledObject" || r.apiVersion === "keda.sh/v1alpha1",
    },
    {
      cel: "!has(self.primaryScalerQueries) || self.kind == 'ScaledObject'",
      message:
        "primaryScalerQueries rewrites KEDA triggers: it needs kind ScaledObject (a HorizontalPodAutoscaler's metrics are copied as they are)",
      path: ["primaryScalerQueries"],
      holds: (r) => r.primaryScalerQueries === undefined || r.kind === "ScaledObject",
    },
  ],
);

/**
 * spec.service fields that only some routers act on: the routers that do, and what the field is there.
 * Anywhere else the Canary is refused (CRD, `kanaria validate`) or, when the router comes from the
 * controller's --provider, Stalled: a field kanaria takes is a field it acts on. Flagger's routers for
 * the same providers act on exactly these (its nginx and kubernetes routers on none of them).
 * `generatedRoute`: a part of the HTTPRoute the gatewayapi router generates, so unused beside routeRef.
 */
export const ROUTER_SERVICE_FIELDS = {
  timeout: {
    routers: ["gatewayapi", "appmesh"],
    what: "the request timeout of the generated route (HTTPRoute timeouts.request, App Mesh route timeout)",
    generatedRoute: true,
  },
  backendTimeout: {
    routers: ["gatewayapi"],
    what: "the HTTPRoute timeouts.backendRequest",
    generatedRoute: true,
  },
  rewrite: { routers: ["gatewayapi"], what: "the HTTPRoute URLRewrite filter", generatedRoute: true },
  corsPolicy: { routers: ["gatewayapi"], what: "the HTTPRoute CORS filter", generatedRoute: true },
  mirror: { routers: ["gatewayapi"], what: "the HTTPRoute RequestMirror filter", generatedRoute: true },
  headers: {
    routers: ["gatewayapi"],
    what: "the HTTPRoute RequestHeaderModifier and ResponseHeaderModifier filters",
    generatedRoute: true,
  },
  match: {
    routers: ["gatewayapi", "appmesh"],
    what: "the requests the generated route accepts (HTTPRoute matches, App Mesh route prefix)",
    generatedRoute: true,
  },
  hosts: {
    routers: ["gatewayapi", "appmesh"],
    what: "the host names of the generated route (HTTPRoute hostnames, App Mesh gateway annotations)",
    generatedRoute: true,
  },
  gatewayRefs: {
    routers: ["gatewayapi"],
    what: "the parents (Gateways, mesh Services) of the generated HTTPRoute",
    generatedRoute: true,
  },
  retries: {
    routers: ["appmesh"],
    what: "the retry policy of the App Mesh route",
    generatedRoute: false,
    // HTTPRoute retries are experimental (GEP-1731), so the gatewayapi router writes none, as Flagger's.
    hint: "with gatewayapi, configure retries with your implementation (e.g. Envoy Gateway's BackendTrafficPolicy): HTTPRoute retries are not in Gateway API's standard channel",
  },
  meshName: { routers: ["appmesh"], what: "the mesh of the App Mesh objects", generatedRoute: false },
  backends: {
    routers: ["appmesh"],
    what: "the virtual services the App Mesh virtual node may call",
    generatedRoute: false,
  },
} as const satisfies Record<
  string,
  { routers: readonly ProviderName[]; what: string; generatedRoute: boolean; hint?: string }
>;
export type RouterServiceField = keyof typeof ROUTER_SERVICE_FIELDS;

/** The spec.service fields of ROUTER_SERVICE_FIELDS a router acts on, for its capabilities. */
export function routerServiceFields(router: ProviderName): RouterServiceField[] {
  return (Object.keys(ROUTER_SERVICE_FIELDS) as RouterServiceField[]).filter((f) =>
    (ROUTER_SERVICE_FIELDS[f].routers as readonly ProviderName[]).includes(router),
  );
}

/**
 * Why a field of ROUTER_SERVICE_FIELDS is refused outside its routers, and the fix: the one text of
 * the CRD rule, `kanaria validate` and the Stalled condition.
 */
export function routerFieldRefusal(field: RouterServiceField): { why: string; fix: string } {
  const { routers, what, ...rest } = ROUTER_SERVICE_FIELDS[field];
  const hint = "hint" in rest ? `; ${rest.hint}` : "";
  const others = PROVIDERS.filter((p) => !(routers as readonly ProviderName[]).includes(p));
  const list = (ps: readonly string[], word: string) =>
    ps.length < 2 ? ps.join("") : `${ps.slice(0, -1).join(", ")} ${word} ${ps[ps.length - 1]}`;
  return {
    why: `${what}, which only provider ${list(routers, "or")} writes (Flagger ignores it on ${list(others, "and")} too)`,
    fix: `remove it or use provider ${list(routers, "or")}${hint}`,
  };
}

/** The spec.provider spellings that run one of `routers`, as a CEL list. */
function celSpellings(routers: readonly ProviderName[]): string {
  const spellings = PROVIDER_SPELLINGS.filter((s) => routers.includes(routerOf(s)));
  return `[${spellings.map((s) => `'${s}'`).join(", ")}]`;
}

interface RouterFieldSubject {
  provider?: ProviderSpelling | undefined;
  routeRef?: unknown;
  service: Partial<Record<RouterServiceField, unknown>>;
}

/**
 * Per field: refused when spec.provider is a router that does not act on it (without spec.provider
 * the controller's --provider decides, and decide() stalls the Canary instead); and, for the parts of
 * the generated HTTPRoute, refused beside routeRef, whose HTTPRoute is used as it is, unless
 * spec.provider is a router other than gatewayapi (App Mesh acts on timeout, match and hosts).
 */
function routerFieldRules(): CrossFieldRule<RouterFieldSubject>[] {
  return (Object.keys(ROUTER_SERVICE_FIELDS) as RouterServiceField[]).flatMap((field) => {
    const { routers, generatedRoute } = ROUTER_SERVICE_FIELDS[field];
    const acts = routers as readonly ProviderName[];
    const { why, fix } = routerFieldRefusal(field);
    const rules: CrossFieldRule<RouterFieldSubject>[] = [
      {
        cel: `!has(self.service.${field}) || !has(self.provider) || self.provider in ${celSpellings(acts)}`,
        message: `service.${field} sets ${why}: ${fix}`,
        path: ["service", field],
        holds: (s) =>
          s.service[field] === undefined || s.provider === undefined || acts.includes(routerOf(s.provider)),
      },
    ];
    if (!generatedRoute) return rules;
    const gateway = celSpellings(["gatewayapi"]);
    rules.push({
      cel: `!has(self.service.${field}) || !has(self.routeRef) || (has(self.provider) && !(self.provider in ${gateway}))`,
      message: `service.${field} goes into the HTTPRoute kanaria generates, but routeRef's HTTPRoute is used as it is: write it into that HTTPRoute, or remove routeRef`,
      path: ["service", field],
      holds: (s) =>
        s.service[field] === undefined ||
        s.routeRef === undefined ||
        (s.provider !== undefined && routerOf(s.provider) !== "gatewayapi"),
    });
    return rules;
  });
}

export const canarySpec = withRules(
  z.strictObject({
    provider: z.enum(PROVIDER_SPELLINGS).optional().meta({
      description:
        "Router that shifts traffic; defaults to the controller's --provider (kubernetes). Flagger's gatewayapi:v1 and gatewayapi:v1beta1 run gatewayapi, appmesh:v1beta2 runs appmesh.",
    }),
    metricsServer: z.string().optional().meta({ description: "Prometheus address for built-in metrics." }),
    targetRef: targetRef,
    autoscalerRef: autoscalerRef.optional(),
    ingressRef: ingressRef.optional(),
    routeRef: localObjectReference("An existing HTTPRoute the gatewayapi router manages.").optional(),
    service: canaryService,
    analysis: canaryAnalysis,
    progressDeadlineSeconds: z
      .number()
      .int()
      .min(1)
      .optional()
      .meta({ description: "Seconds a canary may stay not ready before rollback; defaults to 600." }),
    skipAnalysis: z.boolean().optional(),
    suspend: z.boolean().optional(),
    revertOnDeletion: z.boolean().optional(),
  }),
  [
    {
      cel: "!has(self.provider) || self.provider != 'nginx' || has(self.ingressRef)",
      message: "provider nginx needs ingressRef (the Ingress to clone for the canary)",
      path: ["ingressRef"],
      holds: (s) => s.provider !== "nginx" || s.ingressRef !== undefined,
    },
    {
      cel: "!has(self.provider) || !(self.provider in ['gatewayapi', 'gatewayapi:v1', 'gatewayapi:v1beta1']) || has(self.routeRef) || has(self.service.gatewayRefs)",
      message: "provider gatewayapi needs routeRef (an existing HTTPRoute) or service.gatewayRefs",
      path: ["routeRef"],
      holds: (s) =>
        s.provider === undefined ||
        routerOf(s.provider) !== "gatewayapi" ||
        s.routeRef !== undefined ||
        s.service.gatewayRefs !== undefined,
    },
    // The kubernetes provider runs blue/green with Flagger's 10 iterations when none are set.
    {
      cel: "has(self.analysis.iterations) || has(self.analysis.stepWeight) || has(self.analysis.stepWeights) || (has(self.provider) && self.provider == 'kubernetes')",
      message: "set stepWeight or stepWeights (canary) or iterations (blue/green, A/B)",
      path: ["analysis", "stepWeight"],
      holds: (s) =>
        s.analysis.iterations !== undefined ||
        s.analysis.stepWeight !== undefined ||
        s.analysis.stepWeights !== undefined ||
        s.provider === "kubernetes",
    },
    // The kubernetes provider drops match and runs blue/green (as Flagger does), so it needs no iterations.
    {
      cel: "!has(self.analysis.match) || has(self.analysis.iterations) || (has(self.provider) && self.provider == 'kubernetes')",
      message: "match (A/B testing) needs iterations",
      path: ["analysis", "match"],
      holds: (s) =>
        s.analysis.match === undefined || s.analysis.iterations !== undefined || s.provider === "kubernetes",
    },
    // appmesh:v1beta2 (as in Flagger) leaves the mesh to the namespace's mesh selector.
    {
      cel: "!has(self.provider) || self.provider != 'appmesh' || has(self.service.meshName)",
      message:
        "provider appmesh needs service.meshName; or write provider appmesh:v1beta2, which takes the mesh of the namespace",
      path: ["service", "meshName"],
      holds: (s) => s.provider !== "appmesh" || s.service.meshName !== undefined,
    },
    // Flagger's DaemonSet controller ignores autoscalerRef; kanaria says so instead.
    {
      cel: "!has(self.autoscalerRef) || !has(self.targetRef.kind) || self.targetRef.kind != 'DaemonSet'",
      message:
        "a DaemonSet runs one pod per node and has no replicas to autoscale: remove autoscalerRef or target a Deployment",
      path: ["autoscalerRef"],
      holds: (s) => s.autoscalerRef === undefined || s.targetRef.kind !== "DaemonSet",
    },
    ...routerFieldRules(),
  ],
);

export const CHECK_RESULTS = ["pass", "fail", "nodata", "error"] as const;

export const checkStatus = z
  .strictObject({
    name: z.string(),
    result: z.enum(CHECK_RESULTS),
    value: z.number().optional(),
    thresholdRange: z.strictObject({ min: z.number().optional(), max: z.number().optional() }).optional(),
    provider: z.string().optional(),
    series: z.string().optional().meta({
      description:
        "Whose series a built-in check read, when not the router's usual ones (\"Traefik's series\").",
    }),
    message: z.string(),
    time: z.string(),
    comparison: z
      .strictObject({
        canaryMedian: z.number(),
        primaryMedian: z.number(),
        pValue: z.number(),
        effectSize: z.number().meta({ description: "(canary median - primary median) / |primary median|" }),
        canarySamples: z.number().int(),
        primarySamples: z.number().int(),
      })
      .optional()
      .meta({ description: "The canary-vs-primary test of a metric with compare." }),
  })
  .meta({ description: "Outcome of one metric check in the latest step." });

export const WEBHOOK_RESULTS = ["pass", "fail", "error"] as const;

export const webhookStatus = z
  .strictObject({
    name: z.string(),
    type: z.enum(WEBHOOK_TYPES),
    result: z
      .enum(WEBHOOK_RESULTS)
      .meta({ description: "pass: 200-202; fail: another status; error: no answer." }),
    code: z.number().int().optional().meta({ description: "HTTP status code of the answer." }),
    message: z.string(),
    time: z.string(),
    revision: z
      .string()
      .optional()
      .meta({ description: "The revision (lastAppliedSpec) the answer was for." }),
    step: z.string().optional().meta({ description: "The step of that revision the answer was for." }),
  })
  .meta({ description: "The last answer of one webhook." });

export const requestStatus = z
  .strictObject({
    promote: z.string().optional(),
    abort: z.string().optional(),
    retry: z.string().optional(),
  })
  .meta({
    description: "The request annotations (kanaria promote/abort/retry) already acted on, as written.",
  });

export const canaryStatus = z.strictObject({
  phase: z.enum(PHASES).optional(),
  router: z.enum(PROVIDERS).optional().meta({
    description:
      "The router that runs: spec.provider (or the controller's --provider) with Flagger's versioned spellings resolved, e.g. gatewayapi for gatewayapi:v1.",
  }),
  observedGeneration: z.number().int().optional(),
  canaryWeight: z.number().int().optional(),
  failedChecks: z.number().int().optional(),
  iterations: z.number().int().optional(),
  lastAppliedSpec: z.string().optional().meta({ description: "Hash of the target revision under analysis." }),
  lastPromotedSpec: z.string().optional().meta({ description: "Hash of the revision the primary runs." }),
  trackedConfigs: stringMap("ConfigMap/Secret checksums of the revision under analysis.").optional(),
  lastTransitionTime: z.string().optional(),
  lastStepTime: z
    .string()
    .optional()
    .meta({ description: "When the last analysis step ran; steps are interval apart." }),
  stepRoutedTime: z.string().optional().meta({
    description:
      "When the route was first seen carrying the current step's traffic split; the step's interval counts from here.",
  }),
  progressStartTime: z.string().optional().meta({ description: "Start of the current wait for readiness." }),
  drainedTime: z.string().optional().meta({
    description:
      "Finalising: when the canary had had no traffic for one analysis interval (counted from when the route was seen sending all of it to the primary); from then it is scaled down. Cleared when a promotion completes and when the next release starts.",
  }),
  inconclusiveSince: z.string().optional().meta({
    description:
      "When the current step's checks first came back inconclusive (provider error, timeout, no data); cleared when they conclude.",
  }),
  primaryScaler: z
    .strictObject({
      revision: z.string().meta({ description: "The release (lastAppliedSpec) this was recorded for." }),
      readyReplicas: z
        .number()
        .int()
        .meta({ description: "Ready (available) replicas of the primary when that release started." }),
      floor: z.number().int().meta({
        description:
          "minReplicas held on the primary's autoscaler during the release (readyReplicas within its bounds); all traffic goes back to the primary only with this many ready.",
      }),
    })
    .optional()
    .meta({
      description: "With autoscalerRef: the primary's capacity to restore before it takes all traffic back.",
    }),
  restoring: z
    .strictObject({
      reason: z.string(),
      time: z.string(),
    })
    .optional()
    .meta({
      description:
        "Set while a failed promotion is undone: why it failed and when; the primary goes back to lastPromotedSpec.",
    }),
  checks: z.array(checkStatus).optional(),
  webhooks: z.array(webhookStatus).optional().meta({ description: "The last answer of each webhook." }),
  requests: requestStatus.optional(),
  alerts: z
    .array(alertRecord)
    .optional()
    .meta({ description: "Alerts about recent transitions and their delivery to each AlertProvider." }),
  drift: z.array(z.string()).optional().meta({
    description:
      "Drift reported and not yet seen gone, as Kind/name@hash of the values found (@absent: deleted); each is reported once.",
  }),
  conditions: z.array(condition).optional(),
});

export const canary = z.looseObject({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal("Canary"),
  metadata: objectMeta,
  spec: canarySpec,
  status: canaryStatus.optional(),
});

export type Canary = z.infer<typeof canary>;
export type CanarySpec = z.infer<typeof canarySpec>;
export type CanaryStatus = z.infer<typeof canaryStatus>;
export type CanaryAnalysis = z.infer<typeof canaryAnalysis>;
export type CanaryMetric = z.infer<typeof canaryMetric>;
export type CanaryWebhook = z.infer<typeof canaryWebhook>;
export type HttpMatch = z.infer<typeof httpMatch>;
export type CheckStatus = z.infer<typeof checkStatus>;
export type CheckResult = (typeof CHECK_RESULTS)[number];
export type MetricCompare = z.infer<typeof metricCompare>;
export type TimeWindow = z.infer<typeof timeWindow>;
export type WebhookStatus = z.infer<typeof webhookStatus>;
export type WebhookType = (typeof WEBHOOK_TYPES)[number];
export type AutoscalerRef = NonNullable<CanarySpec["autoscalerRef"]>;
