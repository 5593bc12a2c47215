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
Name of the Secret holding LEVIER_DATABASE_URL, LEVIER_REDIS_URL and LEVIER_SECRET_KEY.
*/}}
{{- define "levier.secretName" -}}
{{- if .Values.secrets.create }}
{{- include "levier.fullname" . }}
{{- else if .Values.secrets.existingSecret }}
{{- .Values.secrets.existingSecret }}
{{- else }}
{{- fail "set secrets.existingSecret to a Secret holding LEVIER_DATABASE_URL, LEVIER_REDIS_URL and LEVIER_SECRET_KEY, or set secrets.create=true" }}
{{- end }}
{{- end }}

{{/*
Name of the Secret holding LEVIER_MIGRATION_DATABASE_URL (the schema owner's URL), read by the
migration Job only: the long-running processes never see the owner's credentials.
*/}}
{{- define "levier.migrationSecretName" -}}
{{- if .Values.secrets.create }}
{{- include "levier.fullname" . }}-migrate
{{- else if .Values.migrations.existingSecret }}
{{- .Values.migrations.existingSecret }}
{{- else }}
{{- fail "set migrations.existingSecret to a Secret holding LEVIER_MIGRATION_DATABASE_URL (the role that owns the schema), or set secrets.create=true with secrets.migrationDatabaseUrl" }}
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
Environment for the long-running processes.
*/}}
{{- define "levier.envFrom" -}}
- configMapRef:
    name: {{ include "levier.fullname" . }}
- secretRef:
    name: {{ include "levier.secretName" . }}
{{- end }}
