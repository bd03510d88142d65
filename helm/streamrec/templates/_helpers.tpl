{{/* Names and labels, bitnami-style. */}}
{{- define "streamrec.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "streamrec.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "streamrec.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "streamrec.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "streamrec.selectorLabels" -}}
app.kubernetes.io/name: {{ include "streamrec.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "streamrec.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "streamrec.secretName" -}}
{{- default (include "streamrec.fullname" .) .Values.existingSecret -}}
{{- end -}}

{{- define "streamrec.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "streamrec.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Settings shared by every container: ConfigMap, then secrets from the Secret. */}}
{{- define "streamrec.env" -}}
envFrom:
  - configMapRef:
      name: {{ include "streamrec.fullname" . }}
env:
  - name: STREAMREC_REDIS__PASSWORD
    valueFrom:
      secretKeyRef: {name: {{ include "streamrec.secretName" . }}, key: redis-password, optional: true}
  - name: STREAMREC_KAFKA__SASL_PASSWORD
    valueFrom:
      secretKeyRef: {name: {{ include "streamrec.secretName" . }}, key: kafka-sasl-password, optional: true}
{{- end -}}

{{/* The key POST /v1/ratings needs: apiKey, else the one already in the release's Secret
(an upgrade keeps it), else a new random one (bitnami's passwords.manage, by hand). */}}
{{- define "streamrec.apiKey" -}}
{{- if .Values.apiKey -}}
{{- .Values.apiKey -}}
{{- else -}}
{{- $secret := lookup "v1" "Secret" .Release.Namespace (include "streamrec.fullname" .) -}}
{{- $stored := "" -}}
{{- if $secret -}}
{{- $stored = index ($secret.data | default dict) "api-key" | default "" -}}
{{- end -}}
{{- if $stored -}}
{{- $stored | b64dec -}}
{{- else -}}
{{- randAlphaNum 40 -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Writable scratch space (the root filesystem is read-only) and TLS bundles. */}}
{{- define "streamrec.volumeMounts" -}}
volumeMounts:
  - {name: tmp, mountPath: /tmp}
  {{- if .Values.kafka.tls.caSecret }}
  - {name: kafka-ca, mountPath: /etc/streamrec/kafka-ca, readOnly: true}
  {{- end }}
  {{- if .Values.redis.tls.caSecret }}
  - {name: redis-ca, mountPath: /etc/streamrec/redis-ca, readOnly: true}
  {{- end }}
{{- end -}}

{{- define "streamrec.volumes" -}}
volumes:
  - name: tmp
    emptyDir: {}
  {{- if .Values.kafka.tls.caSecret }}
  - name: kafka-ca
    secret: {secretName: {{ .Values.kafka.tls.caSecret }}}
  {{- end }}
  {{- if .Values.redis.tls.caSecret }}
  - name: redis-ca
    secret: {secretName: {{ .Values.redis.tls.caSecret }}}
  {{- end }}
{{- end -}}

{{- define "streamrec.podSpecCommon" -}}
serviceAccountName: {{ include "streamrec.serviceAccountName" . }}
automountServiceAccountToken: false
securityContext: {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.image.pullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
{{- end -}}
