package deploy

import (
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// gatewayEnvVars returns the environment variables `linger gateway` reads:
// those of its flags, as its --help lists them, and the secrets it takes
// from the environment only (named in the help text).
func gatewayEnvVars(t *testing.T) map[string]bool {
	t.Helper()
	out, err := exec.Command(lingerBinary(t), "gateway", "--help").CombinedOutput()
	if err != nil && !strings.Contains(string(out), "Usage:") {
		t.Fatalf("linger gateway --help: %v\n%s", err, out)
	}
	vars := map[string]bool{}
	for _, m := range regexp.MustCompile(`\[(LINGER_[A-Z0-9_]+)\]`).FindAllStringSubmatch(string(out), -1) {
		vars[m[1]] = true
	}
	for _, secret := range []string{"LINGER_GATEWAY_SECRET", "LINGER_PLATFORM_TOKEN"} {
		if strings.Contains(string(out), secret) {
			vars[secret] = true
		}
	}
	if !vars["LINGER_SITES"] || !vars["LINGER_GATEWAY_SECRET"] {
		t.Fatalf("linger gateway --help names no LINGER_SITES or LINGER_GATEWAY_SECRET:\n%s", out)
	}
	return vars
}

// TestComposeGateway: the compose file runs the gateway for the demo
// shop's site, with settings it reads, scraped by Prometheus.
func TestComposeGateway(t *testing.T) {
	gw := obj(yamlDocs(t, "compose.yaml")[0], "services", "gateway")
	if gw == nil {
		t.Fatal("compose.yaml: no service gateway")
	}
	if cmd := list(gw, "command"); len(cmd) != 1 || cmd[0] != "gateway" {
		t.Errorf("gateway: command %v, want [gateway]", cmd)
	}
	if str(gw, "depends_on", "topic-init", "condition") != "service_completed_successfully" {
		t.Error("gateway: should wait for topic-init to complete")
	}
	known := gatewayEnvVars(t)
	env := obj(gw, "environment")
	for k := range env {
		if !known[k] {
			t.Errorf("gateway: linger gateway reads no %s", k)
		}
	}
	for k, want := range map[string]string{"LINGER_BROKERS": "kafka:9092", "LINGER_SITES": "demo-shop", "LINGER_HTTP": "0.0.0.0:9465", "LINGER_LISTEN": "0.0.0.0:8080"} {
		if env[k] != want {
			t.Errorf("gateway: %s=%v, want %s", k, env[k], want)
		}
	}
	if s, _ := env["LINGER_GATEWAY_SECRET"].(string); s == "" {
		t.Error("gateway: no LINGER_GATEWAY_SECRET: it would not start")
	}
	var targets []string
	for _, sc := range list(yamlDocs(t, "prometheus/prometheus.yml")[0], "scrape_configs") {
		for _, tg := range list(sc, "static_configs", 0, "targets") {
			targets = append(targets, tg.(string))
		}
	}
	if !strings.Contains(strings.Join(targets, " "), "gateway:9465") {
		t.Errorf("prometheus.yml: the gateway's metrics are not scraped: %v", targets)
	}
}

// TestKubernetesGateway: the gateway's Deployment runs `linger gateway`
// with the sites it serves, its secrets from a Secret, as the processor's
// runs (non-root, read-only), found by its Service and PDB.
func TestKubernetesGateway(t *testing.T) {
	objs, from := manifests(t)
	for _, k := range []string{"Deployment/linger-gateway", "Service/linger-gateway", "ConfigMap/linger-gateway-env", "Secret/linger-gateway", "PodDisruptionBudget/linger-gateway"} {
		if objs[k] == nil {
			t.Fatalf("deploy/kubernetes: no %s", k)
		}
	}
	dep := objs["Deployment/linger-gateway"]
	pod := obj(dep, "spec", "template")
	podLabels := obj(pod, "metadata", "labels")
	if !selects(obj(dep, "spec", "selector", "matchLabels"), podLabels) {
		t.Error("gateway Deployment: its selector does not select its pods")
	}
	if selects(obj(objs["Deployment/linger"], "spec", "selector", "matchLabels"), podLabels) ||
		selects(obj(objs["Service/linger"], "spec", "selector"), podLabels) {
		t.Error("the processor's Deployment or Service selects the gateway's pods")
	}
	if get(pod, "spec", "securityContext", "runAsNonRoot") != true {
		t.Error("gateway Deployment: the pod should run as non-root")
	}
	c := list(pod, "spec", "containers")[0]
	if args := list(c, "args"); len(args) != 1 || args[0] != "gateway" {
		t.Errorf("gateway Deployment: args %v, want [gateway]", args)
	}
	if get(c, "securityContext", "readOnlyRootFilesystem") != true || get(c, "securityContext", "allowPrivilegeEscalation") != false {
		t.Error("gateway Deployment: the container should have a read-only root file system and no privilege escalation")
	}
	ports := map[string]int{}
	for _, p := range list(c, "ports") {
		n, _ := get(p, "containerPort").(int)
		ports[str(p, "name")] = n
	}

	known := gatewayEnvVars(t)
	env := map[string]string{}
	for _, ef := range list(c, "envFrom") {
		cm := objs["ConfigMap/"+str(ef, "configMapRef", "name")]
		if cm == nil {
			t.Fatalf("gateway Deployment: envFrom names a ConfigMap that is not here")
		}
		for k, v := range obj(cm, "data") {
			env[k], _ = v.(string)
		}
	}
	cmText := string(readFile(t, "kubernetes/"+from["ConfigMap/linger-gateway-env"]))
	for _, m := range regexp.MustCompile(`(?m)^\s*(?:#\s*)?(LINGER_[A-Z0-9_]+):`).FindAllStringSubmatch(cmText, -1) {
		if !known[m[1]] {
			t.Errorf("ConfigMap linger-gateway-env: linger gateway reads no %s", m[1])
		}
	}
	secret := objs["Secret/linger-gateway"]
	for _, e := range list(c, "env") {
		name := str(e, "name")
		if strings.HasPrefix(name, "LINGER_") && !known[name] {
			t.Errorf("gateway Deployment: linger gateway reads no %s", name)
		}
		if ref := obj(e, "valueFrom", "secretKeyRef"); ref != nil {
			if str(ref, "name") != "linger-gateway" || get(secret, "stringData", str(ref, "key")) == nil {
				t.Errorf("gateway Deployment: %s comes from %v, not a key of Secret linger-gateway", name, ref)
			}
			env[name] = "(secret)"
		}
	}
	if env["LINGER_GATEWAY_SECRET"] == "" {
		t.Error("gateway Deployment: no LINGER_GATEWAY_SECRET")
	}
	if env["LINGER_SITES"] == "" {
		t.Error("gateway Deployment: no LINGER_SITES: it would serve any site")
	}
	if env["LINGER_BROKERS"] == "" {
		t.Error("gateway Deployment: no LINGER_BROKERS")
	}
	if env["LINGER_HTTP"] != "0.0.0.0:9465" || ports["http-metrics"] != 9465 {
		t.Errorf("gateway Deployment: LINGER_HTTP=%q, metrics port %d: want 0.0.0.0:9465 (the probes come from outside the pod)", env["LINGER_HTTP"], ports["http-metrics"])
	}
	if ports["http"] == 0 || !strings.HasSuffix(env["LINGER_LISTEN"], ":"+strconv.Itoa(ports["http"])) {
		t.Errorf("gateway Deployment: LINGER_LISTEN=%q does not listen on the http port %d", env["LINGER_LISTEN"], ports["http"])
	}
	for probe, path := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz"} {
		if str(c, probe, "httpGet", "path") != path || str(c, probe, "httpGet", "port") != "http-metrics" {
			t.Errorf("gateway Deployment: %s should get %s on http-metrics", probe, path)
		}
	}
	if str(c, "resources", "limits", "memory") == "" || str(c, "resources", "requests", "cpu") == "" {
		t.Error("gateway Deployment: set a cpu request and a memory limit")
	}

	svc := objs["Service/linger-gateway"]
	if !selects(obj(svc, "spec", "selector"), podLabels) {
		t.Error("gateway Service: its selector does not select the gateway's pods")
	}
	for _, p := range list(svc, "spec", "ports") {
		if tp := str(p, "targetPort"); ports[tp] == 0 {
			t.Errorf("gateway Service: targetPort %q is not a container port", tp)
		}
	}
	if !selects(obj(objs["PodDisruptionBudget/linger-gateway"], "spec", "selector", "matchLabels"), podLabels) {
		t.Error("gateway PodDisruptionBudget: its selector does not select the gateway's pods")
	}
}
