{{/* Names and labels */}}
{{- define "cdp.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "cdp.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* selector labels of one service: include "cdp.selector" (list $ "segmenter") */}}
{{- define "cdp.selector" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ $root.Chart.Name }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{/* The stream processors and the HTTP services, in one place */}}
{{- define "cdp.processors" -}}enricher segmenter syncer{{- end -}}
{{- define "cdp.webServices" -}}collector console{{- end -}}

{{- define "cdp.kafkaBootstrap" -}}
{{- if .Values.kafka.bootstrapServers -}}
{{- .Values.kafka.bootstrapServers -}}
{{- else -}}
{{- printf "%s-kafka-bootstrap:%s" .Values.kafka.strimziCluster (ternary "9093" "9092" .Values.kafka.tls.enabled) -}}
{{- end -}}
{{- end -}}

{{- define "cdp.kafkaScram" -}}
{{- if eq .Values.kafka.auth.type "scram-sha-512" -}}true{{- else if ne .Values.kafka.auth.type "none" -}}
{{- fail (printf "kafka.auth.type %q: none or scram-sha-512" .Values.kafka.auth.type) -}}
{{- end -}}
{{- end -}}

{{/* the Kafka user of one service: include "cdp.kafkaUser" (list $ "segmenter") */}}
{{- define "cdp.kafkaUser" -}}
{{- printf "%s-%s" (include "cdp.fullname" (index . 0)) (index . 1) -}}
{{- end -}}

{{- define "cdp.kafkaCaSecret" -}}
{{- .Values.kafka.tls.caSecret | default (printf "%s-cluster-ca-cert" .Values.kafka.strimziCluster) -}}
{{- end -}}

{{/* How one service reaches a secured Kafka: include "cdp.kafkaAccessEnv" (list $ "segmenter") */}}
{{- define "cdp.kafkaAccessEnv" -}}
{{- $root := index . 0 -}}
{{- $kafka := $root.Values.kafka -}}
{{- $scram := include "cdp.kafkaScram" $root -}}
{{- if or $scram $kafka.tls.enabled }}
- name: CDP_KAFKA_SECURITY_PROTOCOL
  value: {{ if $scram }}{{ ternary "SASL_SSL" "SASL_PLAINTEXT" $kafka.tls.enabled }}{{ else }}SSL{{ end }}
{{- end }}
{{- if $scram }}
- name: CDP_KAFKA_SASL_MECHANISM
  value: SCRAM-SHA-512
- name: CDP_KAFKA_SASL_USERNAME
  value: {{ include "cdp.kafkaUser" . }}
- name: CDP_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "cdp.kafkaUser" . }}
      key: password
{{- end }}
{{- if $kafka.tls.enabled }}
- name: CDP_KAFKA_SSL_CAFILE
  value: /etc/cdp/kafka-ca/{{ $kafka.tls.caKey }}
{{- end }}
{{- end -}}

{{/* partitions of a topic: include "cdp.partitions" (list $ "cdp.hits.raw") */}}
{{- define "cdp.partitions" -}}
{{- $root := index . 0 -}}
{{- $topics := $root.Values.kafka.topics -}}
{{- index $topics.partitionOverrides (index . 1) | default $topics.partitions -}}
{{- end -}}

{{/* Environment every CDP container gets */}}
{{- define "cdp.env" -}}
- name: CDP_ENV
  value: {{ .Values.config.env | quote }}
- name: CDP_LOG_LEVEL
  value: {{ .Values.config.logLevel | quote }}
- name: CDP_KAFKA_CLIENT
  value: {{ .Values.config.kafkaClient | quote }}
- name: CDP_KAFKA_BOOTSTRAP
  value: {{ include "cdp.kafkaBootstrap" . | quote }}
- name: CDP_METRICS_HOST
  value: "0.0.0.0"
- name: CDP_TOPIC_PARTITIONS
  value: {{ .Values.kafka.topics.partitions | quote }}
{{- with .Values.kafka.topics.partitionOverrides }}
- name: CDP_TOPIC_PARTITION_OVERRIDES
  value: {{ toJson . | quote }}
{{- end }}
- name: CDP_PG_DSN
  valueFrom:
    secretKeyRef:
{{- if .Values.selfContained.postgres.enabled }}
      name: {{ include "cdp.fullname" . }}-pg-app
      key: uri
{{- else }}
      name: {{ required "postgres.existingSecret is required" .Values.postgres.existingSecret }}
      key: {{ .Values.postgres.dsnKey }}
{{- end }}
{{- if .Values.redis.existingSecret }}
- name: CDP_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.redis.existingSecret }}
      key: {{ .Values.redis.urlKey }}
{{- else }}
- name: CDP_REDIS_URL
  value: {{ include "cdp.redisUrl" . | quote }}
{{- end }}
{{- if .Values.redis.cluster }}
- name: CDP_REDIS_CLUSTER
  value: "true"
{{- end }}
{{- range $k, $v := .Values.config.extraEnv }}
- name: {{ $k }}
  value: {{ $v | quote }}
{{- end }}
{{- end -}}

{{- define "cdp.redisUrl" -}}
{{- if .Values.selfContained.redis.enabled -}}
{{- printf "redis://%s-redis:6379/0" (include "cdp.fullname" .) -}}
{{- else -}}
{{- required "redis.url or redis.existingSecret is required" .Values.redis.url -}}
{{- end -}}
{{- end -}}

{{/* Pod-level settings shared by every workload */}}
{{- define "cdp.podCommon" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
