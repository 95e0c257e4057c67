{{/* The chart's name, or nameOverride. */}}
{{- define "kapok.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The objects' name: the release name when it already holds the chart's name ("kapok",
"kapok-prod"), else release-chart; fullnameOverride wins. 63 characters at most, a DNS label.
*/}}
{{- define "kapok.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* PgBouncer's objects are named after Kapok's: kapok-pgbouncer. */}}
{{- define "kapok.pgbouncer.fullname" -}}
{{- printf "%s-pgbouncer" (include "kapok.fullname" . | trunc 53 | trimSuffix "-") }}
{{- end }}

{{- define "kapok.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kapok
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
{{- end }}

{{/*
Selector labels. The component tells Kapok's pods from PgBouncer's, which share the name
and instance: the Service, the PodDisruptionBudget and the HPA's Deployment select Kapok only.
*/}}
{{- define "kapok.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kapok.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: server
{{- end }}

{{- define "kapok.pgbouncer.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kapok.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: pgbouncer
{{- end }}

{{- define "kapok.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kapok.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret whose keys become Kapok's environment: the user's, or the chart's own. */}}
{{- define "kapok.secretName" -}}
{{- if .Values.secrets.existingSecret }}
{{- .Values.secrets.existingSecret }}
{{- else if .Values.secrets.env }}
{{- include "kapok.fullname" . }}
{{- end }}
{{- end }}

{{- define "kapok.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The pgbouncer Secret holding userlist.txt. */}}
{{- define "kapok.pgbouncer.secretName" -}}
{{- default (include "kapok.pgbouncer.fullname" .) .Values.pgbouncer.existingSecret }}
{{- end }}
