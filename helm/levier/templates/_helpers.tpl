{{/*
Chart name, truncated to the 63 characters Kubernetes allows in names and labels.
*/}}
{{- define "levier.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name. Components append "-api", "-worker", ... so it is kept short.
*/}}
{{- define "levier.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 56 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 56 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 56 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
A resource name: the full name and a suffix, within the 63 characters of a DNS label (Services,
and the job-name label Kubernetes puts on a Job's pods, allow no more). The full name is cut,
never the suffix, so "-migrate" or "-worker-bulk" stays readable.
Usage: include "levier.componentName" (list $ "worker-bulk")
*/}}
{{- define "levier.componentName" -}}
{{- $root := index . 0 -}}
{{- $suffix := index . 1 -}}
{{- $room := sub 62 (len $suffix) | int -}}
{{- printf "%s-%s" (include "levier.fullname" $root | trunc $room | trimSuffix "-") $suffix -}}
{{- end }}

{{- define "levier.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "levier.labels" -}}
helm.sh/chart: {{ include "levier.chart" . }}
{{ include "levier.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "levier.selectorLabels" -}}
app.kubernetes.io/name: {{ include "levier.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Selector labels of one component's pods ("api", "scheduler", "worker" + its pool).
Usage: include "levier.componentSelectorLabels" (list $ "worker" "bulk")
*/}}
{{- define "levier.componentSelectorLabels" -}}
{{- $root := index . 0 -}}
{{ include "levier.selectorLabels" $root }}
app.kubernetes.io/component: {{ index . 1 }}
{{- if gt (len .) 2 }}
levier/worker-pool: {{ index . 2 }}
{{- end }}
{{- end }}

{{- define "levier.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "levier.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "levier.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/*
Name of the Secret holding LEVIER_DATABASE_URL, LEVIER_REDIS_URL and LEVIER_SECRET_KEY, or ""
when secrets.keyRefs alone supply them.
*/}}
{{- define "levier.secretName" -}}
{{- if .Values.secrets.create }}
{{- include "levier.fullname" . }}
{{- else if .Values.secrets.existingSecret }}
{{- .Values.secrets.existingSecret }}
{{- else if not .Values.secrets.keyRefs }}
{{- fail "set secrets.existingSecret to a Secret holding LEVIER_DATABASE_URL, LEVIER_REDIS_URL and LEVIER_SECRET_KEY, map your Secrets' keys with secrets.keyRefs, or set secrets.create=true" }}
{{- end }}
{{- end }}

{{/*
Name of the Secret holding LEVIER_MIGRATION_DATABASE_URL (the schema owner's URL), read by the
migration Job only: the long-running processes never see the owner's credentials.
*/}}
{{- define "levier.migrationSecretName" -}}
{{- if .Values.secrets.create }}
{{- include "levier.componentName" (list $ "migrate") }}
{{- else if .Values.migrations.existingSecret }}
{{- .Values.migrations.existingSecret }}
{{- else if not .Values.migrations.keyRefs }}
{{- fail "set migrations.existingSecret to a Secret holding LEVIER_MIGRATION_DATABASE_URL (the role that owns the schema), map its parts with migrations.keyRefs, or set secrets.create=true with secrets.migrationDatabaseUrl" }}
{{- end }}
{{- end }}

{{/*
Non-secret environment as a flat YAML map: the ConfigMap's data, and the migration Job's env
(the Job runs before the ConfigMap exists on install).
*/}}
{{- define "levier.configEnv" -}}
LEVIER_ENV: {{ .Values.config.env | quote }}
LEVIER_LOG_LEVEL: {{ .Values.config.logLevel | quote }}
LEVIER_PUBLIC_URL: {{ required "config.publicUrl is required: the https:// address clients use (the OAuth issuer)" .Values.config.publicUrl | quote }}
{{- with .Values.config.corsOrigins }}
LEVIER_CORS_ORIGINS: {{ join "," . | quote }}
{{- end }}
{{- with .Values.api.forwardedAllowIps }}
LEVIER_FORWARDED_ALLOW_IPS: {{ join "," . | quote }}
{{- end }}
{{- if .Values.metrics.enabled }}
LEVIER_METRICS_PORT: {{ .Values.metrics.port | toString | quote }}
LEVIER_METRICS_HOST: "0.0.0.0"
{{- end }}
LEVIER_HEALTH_PORT: {{ .Values.health.port | toString | quote }}
LEVIER_HEALTH_HOST: "0.0.0.0"
LEVIER_HEALTH_STALL_SECONDS: {{ .Values.health.stallSeconds | toString | quote }}
{{- range $key, $value := .Values.config.extraEnv }}
{{ $key }}: {{ $value | toString | quote }}
{{- end }}
{{- end }}

{{/*
Pod template annotations: roll the pods when the ConfigMap or the chart-made Secret changes.
*/}}
{{- define "levier.podAnnotations" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
{{- if .Values.secrets.create }}
checksum/secret: {{ include (print .Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end }}
{{- if .Values.metrics.enabled }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .Values.metrics.port | toString | quote }}
prometheus.io/path: "/metrics"
{{- end }}
{{- with .Values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
The metrics port of a long-running process's container (under `ports:`).
*/}}
{{- define "levier.metricsPort" -}}
{{- if .Values.metrics.enabled -}}
- name: metrics
  containerPort: {{ .Values.metrics.port }}
  protocol: TCP
{{- end }}
{{- end }}

{{/*
Environment for the long-running processes: the ConfigMap, the Secret, extraEnvFrom.
*/}}
{{- define "levier.envFrom" -}}
- configMapRef:
    name: {{ include "levier.fullname" . }}
{{- with include "levier.secretName" . }}
- secretRef:
    name: {{ . }}
{{- end }}
{{- with .Values.extraEnvFrom }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Variables read from other Secrets' keys, then extraEnv. Usage: include "levier.env" (list $ keyRefs)
*/}}
{{- define "levier.env" -}}
{{- $root := index . 0 -}}
{{- range $name, $ref := index . 1 }}
- name: {{ $name }}
  valueFrom:
    secretKeyRef:
      name: {{ $ref.name }}
      key: {{ $ref.key }}
{{- end }}
{{- with $root.Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
nodeSelector, affinity, tolerations and topology spread of one component's pods.
Usage: include "levier.scheduling" (dict "root" $ "selector" (list $ "worker" "bulk") "nodeSelector" … "affinity" … "tolerations" …)
*/}}
{{- define "levier.scheduling" -}}
{{- $root := .root -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- $spread := $root.Values.topologySpread }}
{{- if $spread.enabled }}
{{- $selector := dict "matchLabels" (include "levier.componentSelectorLabels" .selector | fromYaml) }}
topologySpreadConstraints:
{{- if $spread.constraints }}
{{- range $spread.constraints }}
  - {{ toYaml (merge (deepCopy .) (dict "labelSelector" $selector)) | nindent 4 | trim }}
{{- end }}
{{- else }}
{{- range $spread.topologyKeys }}
  - maxSkew: {{ $spread.maxSkew }}
    topologyKey: {{ . }}
    whenUnsatisfiable: {{ $spread.whenUnsatisfiable }}
    labelSelector:
      {{- toYaml $selector | nindent 6 }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The queues of the tasks in this release's image (workers.run.known_queues(); a test keeps the
two equal), and the queues one worker pool consumes.
*/}}
{{- define "levier.knownQueues" -}}
{{- list "billing" "campaigns" "connectors" "default" "exports" "imports" "messages" "rfm" "scenarios" "segments" "webhooks" | toJson }}
{{- end }}

{{- define "levier.poolQueues" -}}
{{- $known := include "levier.knownQueues" .root | fromJsonArray -}}
{{- if .pool.queues }}
{{- .pool.queues | toJson }}
{{- else }}
{{- $queues := list -}}
{{- range $known }}
{{- if not (has . ($.pool.excludeQueues | default list)) }}
{{- $queues = append $queues . -}}
{{- end }}
{{- end }}
{{- $queues | toJson }}
{{- end }}
{{- end }}

{{/*
The worker pools, each merged over the worker defaults, as a JSON list; fails when a queue is
consumed by no pool, or a pool names an unknown queue or takes both queues and excludeQueues.
*/}}
{{- define "levier.workerPools" -}}
{{- $defaults := omit .Values.worker "pools" -}}
{{- $known := include "levier.knownQueues" . | fromJsonArray -}}
{{- $pools := list -}}
{{- $covered := list -}}
{{- $names := list -}}
{{- range .Values.worker.pools }}
{{- $pool := mergeOverwrite (deepCopy $defaults) (deepCopy .) -}}
{{- if and $pool.queues $pool.excludeQueues }}
{{- fail (printf "worker.pools[%s]: give queues or excludeQueues, not both" $pool.name) }}
{{- end }}
{{- if has $pool.name $names }}
{{- fail (printf "worker.pools: the name %s is taken twice" $pool.name) }}
{{- end }}
{{- $names = append $names $pool.name -}}
{{- range concat ($pool.queues | default list) ($pool.excludeQueues | default list) }}
{{- if not (has . $known) }}
{{- fail (printf "worker.pools[%s]: unknown queue %s (queues: %s)" $pool.name . (join ", " $known)) }}
{{- end }}
{{- end }}
{{- $queues := include "levier.poolQueues" (dict "root" $ "pool" $pool) | fromJsonArray -}}
{{- if not $queues }}
{{- fail (printf "worker.pools[%s]: consumes no queue" $pool.name) }}
{{- end }}
{{- $covered = concat $covered $queues -}}
{{- $pools = append $pools (set $pool "effectiveQueues" $queues) -}}
{{- end }}
{{- range $known }}
{{- if not (has . $covered) }}
{{- fail (printf "worker.pools: no pool consumes the queue %s (give a pool excludeQueues to take every other queue)" .) }}
{{- end }}
{{- end }}
{{- $pools | toJson }}
{{- end }}

{{/*
The Redis key prefix of the broker's queues (LEVIER_REDIS_NAMESPACE), for KEDA's list triggers.
*/}}
{{- define "levier.redisNamespace" -}}
{{- .Values.config.extraEnv.LEVIER_REDIS_NAMESPACE | default "levier" }}
{{- end }}
