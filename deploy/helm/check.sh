#!/usr/bin/env bash
# Lint, render and schema-check the Helm chart, offline but for the package registries:
#   helm lint and helm template, for the default values and the self-contained ones;
#   kubeconform -strict on every rendered object, with schemas made by schemas.py from
#   Kubernetes' OpenAPI document and from the operators' CRDs (KEDA, CloudNativePG),
#   Strimzi's CRDs generated from its API types (Maven Central), and the Prometheus
#   operator's generated from its Go API types with controller-gen.
# Tools and sources are cached under .data/helm-tools; rendered manifests go to
# .data/helm/<values>.yaml for tests to read.
#   deploy/helm/check.sh            # everything
#   deploy/helm/check.sh tools      # only build the tools and make the CRDs (make test, before pytest)
#   deploy/helm/check.sh render     # only lint and render (no schemas)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
CHART="$ROOT/deploy/helm/cdp"
TOOLS="$ROOT/.data/helm-tools"
OUT="$ROOT/.data/helm"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
HELM_VERSION=v3.22.0
KUBECONFORM_VERSION=v0.8.0
CONTROLLER_TOOLS_VERSION=v0.23.0
K8S_VERSION=v1.34.3  # the Kubernetes whose OpenAPI document checks the kinds
KUBE_VERSION=1.34.3  # what helm renders for
KEDA_VERSION=v2.21.0
CNPG_VERSION=v1.27.1
PROMETHEUS_OPERATOR_VERSION=v0.95.2
STRIMZI_VERSION=1.2.0
mkdir -p "$TOOLS/bin" "$OUT"
export GOBIN="$TOOLS/bin" GOFLAGS=-mod=mod GOTOOLCHAIN=local
log() { echo "[helm] $*"; }

tool() {  # tool NAME MODULE/PATH@VERSION
    local name=$1 pkg=$2
    if [ ! -x "$TOOLS/bin/$name" ] || [ "$(cat "$TOOLS/bin/$name.version" 2>/dev/null)" != "$pkg" ]; then
        log "building $name ($pkg) with go install"
        go install "$pkg"
        echo "$pkg" > "$TOOLS/bin/$name.version"
    fi
}

module_dir() {  # the unpacked source of a Go module version (Go module proxy)
    go mod download -json "$1" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["Dir"])'
}

render() {
    tool helm "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
    local helm="$TOOLS/bin/helm"
    for values in default self-contained; do
        local args=()
        [ "$values" = default ] || args=(-f "$ROOT/deploy/helm/values-$values.yaml")
        log "helm lint --strict ($values)"
        "$helm" lint --strict --kube-version "$KUBE_VERSION" "$CHART" "${args[@]}" >/dev/null
        log "helm template ($values) -> .data/helm/$values.yaml"
        "$helm" template cdp "$CHART" --namespace cdp --kube-version "$KUBE_VERSION" "${args[@]}" > "$OUT/$values.yaml"
    done
}

crds() {  # every CRD the chart's operator kinds need, in $TOOLS/crds
    local dir="$TOOLS/crds" stamp="$TOOLS/crds/.versions"
    local want="$KEDA_VERSION $CNPG_VERSION $PROMETHEUS_OPERATOR_VERSION $STRIMZI_VERSION triggerauthentications"
    [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && return 0
    rm -rf "$dir" && mkdir -p "$dir"
    log "CRDs: KEDA $KEDA_VERSION and CloudNativePG $CNPG_VERSION (Go module proxy)"
    local keda
    keda="$(module_dir "github.com/kedacore/keda/v2@$KEDA_VERSION")/config/crd/bases"
    cp "$keda/keda.sh_scaledobjects.yaml" "$keda/keda.sh_triggerauthentications.yaml" "$dir/"
    cp "$(module_dir "github.com/cloudnative-pg/cloudnative-pg@$CNPG_VERSION")"/config/crd/bases/postgresql.cnpg.io_clusters.yaml "$dir/"

    log "CRDs: Prometheus operator $PROMETHEUS_OPERATOR_VERSION, generated from its Go API types"
    tool controller-gen "sigs.k8s.io/controller-tools/cmd/controller-gen@$CONTROLLER_TOOLS_VERSION"
    local gen="$TOOLS/gen-monitoring"
    rm -rf "$gen" && mkdir -p "$gen" && (
        cd "$gen"
        go mod init local/gen >/dev/null 2>&1
        printf 'package gen\n\nimport _ "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"\n' > gen.go
        go get "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring@$PROMETHEUS_OPERATOR_VERSION" >/dev/null 2>&1
        "$TOOLS/bin/controller-gen" crd:crdVersions=v1,allowDangerousTypes=true \
            paths=github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1 \
            output:crd:artifacts:config="$dir"
    )

    log "CRDs: Strimzi $STRIMZI_VERSION, generated from its API types (Maven Central)"
    local java=""
    for j in "${JAVA21:-}" /usr/lib/jvm/*/bin/java "$(command -v java)"; do
        [ -x "$j" ] || continue
        v=$("$j" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
        if [ "${v:-0}" -ge 21 ]; then java=$j; break; fi
    done
    [ -n "$java" ] || { echo "Strimzi's CRD generator needs Java 21 or newer (set JAVA21=/path/to/java)" >&2; exit 1; }
    local m="$TOOLS/strimzi"
    mkdir -p "$m" && sed "s/@STRIMZI_VERSION@/$STRIMZI_VERSION/g" "$ROOT/deploy/helm/strimzi-crds.pom.xml" > "$m/pom.xml"
    (cd "$m" && mvn -q dependency:build-classpath -Dmdep.outputFile=cp.txt >/dev/null)
    "$java" -cp "$(cat "$m/cp.txt")" io.strimzi.crdgenerator.CrdGenerator --yaml --crd-api-version v1 --api-versions v1 \
        io.strimzi.api.kafka.model.kafka.Kafka="$dir/strimzi-kafka.yaml" \
        io.strimzi.api.kafka.model.nodepool.KafkaNodePool="$dir/strimzi-nodepool.yaml" \
        io.strimzi.api.kafka.model.topic.KafkaTopic="$dir/strimzi-topic.yaml" \
        io.strimzi.api.kafka.model.user.KafkaUser="$dir/strimzi-user.yaml"
    echo "$want" > "$stamp"
}

validate() {
    tool kubeconform "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"
    crds
    local swagger
    swagger="$(module_dir "k8s.io/kubernetes@$K8S_VERSION")/api/openapi-spec/swagger.json"
    local schemas="$OUT/schemas"
    rm -rf "$schemas"
    local crd_args=()
    for f in "$TOOLS"/crds/*.yaml; do crd_args+=(--crd "$f"); done
    "$PY" "$ROOT/deploy/helm/schemas.py" --swagger "$swagger" "${crd_args[@]}" --out "$schemas" \
        "$OUT/default.yaml" "$OUT/self-contained.yaml"
    for values in default self-contained; do
        log "kubeconform -strict ($values)"
        "$TOOLS/bin/kubeconform" -strict -summary -output text \
            -schema-location "$schemas/{{ .ResourceKind }}{{ .KindSuffix }}.json" "$OUT/$values.yaml"
    done
}

case "${1:-all}" in
    tools)
        tool helm "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
        tool kubeconform "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"
        crds
        module_dir "k8s.io/kubernetes@$K8S_VERSION" >/dev/null
        ;;
    render) render ;;
    all) render && validate ;;
    *) echo "usage: $0 [tools|render|all]" >&2; exit 2 ;;
esac
