// Package deploy holds linger's deployment files (a Dockerfile, a compose file
// with Apache Kafka, Kubernetes manifests, Prometheus rules and a Grafana
// dashboard) and the tests that check them. It has no code: the tests parse
// the files, and run the linger binary (built from ./cmd/linger) where a file
// must agree with what linger does, such as the metric names a rule or a
// dashboard query uses. `make deploy-check` (deploy/check.sh) adds the checks
// that need other tools: promtool, kubeconform and the Dockerfile's build
// command.
package deploy
