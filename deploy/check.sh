#!/usr/bin/env bash
# make deploy-check: the checks of deploy/ that need more than `go test`.
#
#   1. the Dockerfile's build stage, its `go build` line run as plain shell
#      (Docker cannot run here), and the binary it makes checked: static,
#      -trimpath, built with the profile for PGO, the version stamped in;
#   2. deploy's Go tests (compose, Kubernetes, Dockerfile lint, dashboard,
#      rules, and every metric name against a running linger's /metrics);
#   3. promtool (Debian's prometheus package, installed if missing): check
#      rules, the rules' unit tests, check config;
#   4. kubeconform (go install) on deploy/kubernetes, strict. Its schemas come
#      from GitHub; where that cannot be reached, from deploy/kubeschema, which
#      generates them from k8s.io/api's Go types. CRDs (ServiceMonitor,
#      ScaledObject) have no schema either way and are skipped: the Go tests
#      check them against the Service and the Deployment;
#   5. docker compose config, where a compose is installed.
set -euo pipefail
cd "$(dirname "$0")/.."

KUBECONFORM_VERSION=v0.8.0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
step() { printf '\n== %s\n' "$*"; }

step "Dockerfile: the build stage's go build, as plain shell"
mapfile -t lines < <(grep -E '^RUN CGO_ENABLED=0 .*go build ' deploy/Dockerfile)
if [ "${#lines[@]}" != 1 ]; then
	echo "deploy/Dockerfile: want exactly one 'RUN CGO_ENABLED=0 ... go build' line, found ${#lines[@]}" >&2
	exit 1
fi
build=${lines[0]#RUN }
build=${build//\/out\//$tmp/}
echo "$build"
VERSION=deploy-check TARGETOS=linux TARGETARCH=$(go env GOARCH) sh -c "$build"
bin=$tmp/linger
info=$(go version -m "$bin")
for want in 'CGO_ENABLED=0' '-trimpath=true' '-pgo=default.pgo'; do
	if ! grep -qF -- "$want" <<<"$info"; then
		echo "the binary's build info lacks $want:" >&2
		echo "$info" >&2
		exit 1
	fi
done
if ! grep -q 'not a dynamic executable' <<<"$(LC_ALL=C ldd "$bin" 2>&1 || true)"; then
	echo "the binary is dynamically linked: it would not run on distroless/static" >&2
	exit 1
fi
if ! "$bin" version | grep -q deploy-check; then
	echo "linger version does not print the version passed at build time: $("$bin" version)" >&2
	exit 1
fi
echo "ok: static, -trimpath, built with cmd/linger/default.pgo, $("$bin" version)"

step "go test ./deploy/..."
go test -count=1 ./deploy/...

step "promtool"
if ! command -v promtool >/dev/null 2>&1; then
	echo "installing promtool (Debian's prometheus package)"
	sudo=""
	if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then sudo=sudo; fi
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get install -y prometheus >"$tmp/apt.log" 2>&1 ||
		{ $sudo apt-get update >>"$tmp/apt.log" 2>&1 && $sudo apt-get install -y prometheus >>"$tmp/apt.log" 2>&1; } ||
		{ cat "$tmp/apt.log" >&2; exit 1; }
fi
promtool --version | head -1
promtool check rules deploy/prometheus/linger.rules.yaml
(cd deploy/prometheus && promtool test rules linger.rules_test.yaml)
promtool check config deploy/prometheus/prometheus.yml

step "kubeconform $KUBECONFORM_VERSION"
go install "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"
gobin=$(go env GOBIN)
kubeconform=${gobin:-$(go env GOPATH)/bin}/kubeconform
cat >"$tmp/probe.yaml" <<'PROBE'
apiVersion: v1
kind: Namespace
metadata:
  name: probe
PROBE
args=(-strict -summary -verbose -ignore-missing-schemas -skip Kustomization)
if "$kubeconform" -strict "$tmp/probe.yaml" >/dev/null 2>&1; then
	echo "schemas: kubeconform's default location"
	"$kubeconform" "${args[@]}" deploy/kubernetes
else
	echo "schemas: kubeconform's default location (GitHub) cannot be reached from here;"
	echo "generating strict schemas of the built-in kinds from k8s.io/api (deploy/kubeschema)"
	(cd deploy/kubeschema && go run . "$tmp/schemas")
	"$kubeconform" "${args[@]}" -schema-location "$tmp/schemas/{{ .ResourceKind }}{{ .KindSuffix }}.json" deploy/kubernetes
fi
echo "(ServiceMonitor and ScaledObject are CRDs without a schema here: skipped by kubeconform, checked by deploy/kubernetes_test.go)"

step "docker compose config"
if docker compose version >/dev/null 2>&1; then
	docker compose -f deploy/compose.yaml config -q && echo "ok"
elif command -v docker-compose >/dev/null 2>&1; then
	docker-compose -f deploy/compose.yaml config -q && echo "ok"
else
	echo "no docker compose here: deploy/compose.yaml is checked by deploy/compose_test.go only"
fi

printf '\ndeploy-check: all checks passed\n'
