{{- define "switchyard.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "switchyard.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "switchyard.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: {{ .Values.mode }}
{{- end -}}

{{- define "switchyard.poolName" -}}
{{- default (include "switchyard.fullname" .) .Values.inferencePool.name -}}
{{- end -}}

{{- define "switchyard.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The discovery fragment of the Switchyard config (files/discovery-*.yaml). */}}
{{- define "switchyard.discovery" -}}
{{- if eq .Values.discovery.type "dns" -}}
{{- .Files.Get "files/discovery-dns.yaml" | replace "__DNSNAME__" (required "discovery.dns.name is required with discovery.type=dns" .Values.discovery.dns.name) | replace "__DNSPORT__" (toString (first .Values.modelServers.targetPorts)) | replace "__INTERVAL__" .Values.discovery.dns.interval -}}
{{- else if .Values.discovery.kubernetes.service -}}
{{- .Files.Get "files/discovery-slices.yaml" | replace "__SERVICE__" .Values.discovery.kubernetes.service | replace "__PORTS__" (toJson .Values.modelServers.targetPorts) -}}
{{- else if eq .Values.mode "epp" -}}
{{- .Files.Get "files/discovery-pool.yaml" | replace "__POOL__" (include "switchyard.poolName" .) -}}
{{- else -}}
{{- .Files.Get "files/discovery-selector.yaml" | replace "__SELECTOR__" (toJson .Values.modelServers.matchLabels) | replace "__PORTS__" (toJson .Values.modelServers.targetPorts) -}}
{{- end -}}
{{- end -}}

{{/* The whole Switchyard config (files/gateway.yaml or files/epp.yaml). */}}
{{- define "switchyard.config" -}}
{{- $f := ternary "files/epp.yaml" "files/gateway.yaml" (eq .Values.mode "epp") -}}
{{- $tls := ternary (.Files.Get "files/tls.yaml") "" (ne .Values.inferenceExtension.tls.secretName "") -}}
{{- .Files.Get $f | replace "__PORT__" (toString .Values.gateway.port) | replace "__ADMIN__" (toString .Values.adminPort) | replace "__WORKERS__" (toString .Values.workers) | replace "__ENGINE__" .Values.modelServers.engine | replace "__XP__" (toString .Values.inferenceExtension.extProcPort) | replace "__HEALTH__" (toString .Values.inferenceExtension.healthPort) | replace "__SECURE__" (toString .Values.inferenceExtension.secureServing) | replace "__TLS__" $tls | replace "__DISCOVERY__" (include "switchyard.discovery" .) }}
{{- with .Values.schedulerConfig }}
scheduler:
{{ toYaml . | indent 2 }}
{{- end }}
{{- end -}}
