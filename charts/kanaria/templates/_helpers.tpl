{{/* The release's full name, cut to the 63 characters a name may have. */}}
{{- define "kanaria.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "kanaria.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "kanaria.labels" -}}
{{ include "kanaria.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "kanaria.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "kanaria.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "kanaria.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/*
What the controller does with the Kubernetes API, and nothing more. Kept in step with the code by
test/chart/rbac.test.ts: the controller runs as this ServiceAccount through a release, and
SubjectAccessReviews check what it must not do.
*/}}
{{- define "kanaria.rules" -}}
# Canaries: read and watch; patch adds/removes the finalizer and the request annotations it acted on.
- apiGroups: [kanaria.dev]
  resources: [canaries]
  verbs: [get, list, watch, patch]
- apiGroups: [kanaria.dev]
  resources: [canaries/status]
  verbs: [update]
# Owner references with blockOwnerDeletion on the objects a Canary owns.
- apiGroups: [kanaria.dev]
  resources: [canaries/finalizers]
  verbs: [update]
- apiGroups: [kanaria.dev]
  resources: [metrictemplates, alertproviders]
  verbs: [get, list, watch]
# The <target>-primary Deployment or DaemonSet (server-side apply creates or patches it); targets are
# scaled (a DaemonSet by a node selector that parks it).
- apiGroups: [apps]
  resources: [deployments, daemonsets]
  verbs: [get, list, watch, create, patch]
# The primary's ReplicaSets (Deployment) and ControllerRevisions (DaemonSet) hold the promoted pod
# template: a failed promotion is undone from them (as kubectl rollout undo), and a primary that drifts
# mid-release is put back from them.
- apiGroups: [apps]
  resources: [replicasets, controllerrevisions]
  verbs: [list]
# The apex, -primary and -canary Services; the -primary copies of tracked ConfigMaps and Secrets;
# Secrets also hold metric provider and alert provider credentials.
- apiGroups: [""]
  resources: [services, configmaps, secrets]
  verbs: [get, list, watch, create, patch]
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
# The -canary Service's EndpointSlices, listed just before the canary's first traffic: no share of
# requests is routed to it before they list its ready pods (without this grant the check is skipped).
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list]
# Routers. nginx: Ingresses are watched; the canary Ingress is created, patched, and deleted when a
# Canary goes away. Gateway API and App Mesh: HTTPRoutes and VirtualRouters are watched (an edit
# wakes their Canary); routes and mesh objects are read, applied and patched, never deleted (the
# generated ones are garbage-collected with the Canary that owns them).
- apiGroups: [networking.k8s.io]
  resources: [ingresses]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [gateway.networking.k8s.io]
  resources: [httproutes]
  verbs: [get, list, watch, create, patch]
# Built-in metrics read the series of the implementation serving the route: a route's Gateways and
# their GatewayClass, an Ingress's IngressClass are read (once per Canary generation, when an analysis
# needs them); for an Ingress without a class, the IngressClasses are listed for the default one.
# Cluster-scoped classes cannot be granted by a namespaced release's Roles: there the built-ins keep
# the router's default series and a Warning Event says why.
- apiGroups: [gateway.networking.k8s.io]
  resources: [gateways, gatewayclasses]
  verbs: [get]
- apiGroups: [networking.k8s.io]
  resources: [ingressclasses]
  verbs: [get, list]
- apiGroups: [appmesh.k8s.aws]
  resources: [virtualrouters]
  verbs: [get, list, watch, create, patch]
- apiGroups: [appmesh.k8s.aws]
  resources: [virtualnodes, virtualservices]
  verbs: [get, create, patch]
# spec.autoscalerRef: the target's HorizontalPodAutoscaler or KEDA ScaledObject is watched (an edit is
# copied to <name>-primary, which is applied); a ScaledObject is paused between releases (patched).
- apiGroups: [autoscaling]
  resources: [horizontalpodautoscalers]
  verbs: [get, list, watch, create, patch]
- apiGroups: [keda.sh]
  resources: [scaledobjects]
  verbs: [get, list, watch, create, patch]
{{- end -}}
