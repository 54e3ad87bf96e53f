/**
 * The parts of gateway.networking.k8s.io/v1 HTTPRoute that kanaria reads and writes. Every type keeps
 * unknown fields (index signatures), because a user's rules are copied back exactly as read.
 */
import type { KubeObject } from "../../kube/types.ts";

export const HTTPROUTE_API_VERSION = "gateway.networking.k8s.io/v1";
export const GATEWAY_GROUP = "gateway.networking.k8s.io";

export interface ParentRef {
  group?: string;
  kind?: string;
  namespace?: string;
  name: string;
  sectionName?: string;
  port?: number;
  [field: string]: unknown;
}

export interface HeaderValue {
  name: string;
  value: string;
}

export interface HeaderModifier {
  add?: HeaderValue[];
  set?: HeaderValue[];
  remove?: string[];
  [field: string]: unknown;
}

export interface BackendObjectRef {
  group?: string;
  kind?: string;
  name: string;
  namespace?: string;
  port?: number;
  [field: string]: unknown;
}

export interface Filter {
  type: string;
  requestHeaderModifier?: HeaderModifier;
  responseHeaderModifier?: HeaderModifier;
  requestMirror?: { backendRef: BackendObjectRef; percent?: number; [field: string]: unknown };
  [field: string]: unknown;
}

export interface BackendRef extends BackendObjectRef {
  weight?: number;
  filters?: Filter[];
}

export interface StringMatchRule {
  type?: string;
  name: string;
  value: string;
}

export interface RouteMatch {
  path?: { type?: string; value?: string };
  headers?: StringMatchRule[];
  queryParams?: StringMatchRule[];
  method?: string;
  [field: string]: unknown;
}

export interface RouteRule {
  name?: string;
  matches?: RouteMatch[];
  filters?: Filter[];
  backendRefs?: BackendRef[];
  timeouts?: { request?: string; backendRequest?: string };
  [field: string]: unknown;
}

export interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  observedGeneration?: number;
}

export interface RouteParentStatus {
  parentRef: ParentRef;
  controllerName?: string;
  conditions?: Condition[];
}

export type HTTPRoute = KubeObject & {
  spec?: {
    parentRefs?: ParentRef[];
    hostnames?: string[];
    rules?: RouteRule[];
    [field: string]: unknown;
  };
  status?: { parents?: RouteParentStatus[] };
};
