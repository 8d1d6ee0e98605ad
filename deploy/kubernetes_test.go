package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// manifests reads every document of deploy/kubernetes/*.yaml but the
// kustomization, keyed by "Kind/name", with the file each came from.
func manifests(t *testing.T) (map[string]map[string]any, map[string]string) {
	t.Helper()
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	objs, from := map[string]map[string]any{}, map[string]string{}
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		for _, d := range yamlDocs(t, f) {
			key := str(d, "kind") + "/" + str(d, "metadata", "name")
			if objs[key] != nil {
				t.Errorf("%s: %s defined twice", f, key)
			}
			objs[key], from[key] = d, filepath.Base(f)
		}
	}
	return objs, from
}

// selects reports whether every label of selector is on labels.
func selects(selector, labels map[string]any) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// quantity parses the Kubernetes and linger byte sizes used here (Mi, Gi,
// MiB, GiB).
func quantity(t *testing.T, s string) int64 {
	t.Helper()
	m := regexp.MustCompile(`^(\d+)(Mi|Gi|MiB|GiB)$`).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("cannot parse the size %q", s)
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	if strings.HasPrefix(m[2], "Gi") {
		return n << 30
	}
	return n << 20
}

func TestKubernetes(t *testing.T) {
	objs, from := manifests(t)
	for _, k := range []string{
		"Namespace/linger", "Deployment/linger", "ConfigMap/linger-env", "ConfigMap/linger-scoring",
		"Secret/linger-kafka", "Service/linger", "PodDisruptionBudget/linger",
		"ServiceMonitor/linger", "ScaledObject/linger",
	} {
		if objs[k] == nil {
			t.Fatalf("deploy/kubernetes: no %s", k)
		}
	}
	for k, o := range objs {
		if !strings.HasPrefix(k, "Namespace/") && str(o, "metadata", "namespace") != "linger" {
			t.Errorf("%s: %s is not in namespace linger", from[k], k)
		}
	}

	// The kustomization lists every file (the CRD ones commented out).
	kust := string(readFile(t, "kubernetes/kustomization.yaml"))
	for _, f := range from {
		if !regexp.MustCompile(`(?m)^\s*(#\s*)?-\s+` + regexp.QuoteMeta(f) + `\s*$`).MatchString(kust) {
			t.Errorf("kustomization.yaml: does not list %s", f)
		}
	}
	for _, m := range regexp.MustCompile(`(?m)^\s*-\s+(\S+\.yaml)\s*$`).FindAllStringSubmatch(kust, -1) {
		if _, err := os.Stat(filepath.Join("kubernetes", m[1])); err != nil {
			t.Errorf("kustomization.yaml: %v", err)
		}
	}

	dep := objs["Deployment/linger"]
	pod := obj(dep, "spec", "template")
	podLabels := obj(pod, "metadata", "labels")
	if !selects(obj(dep, "spec", "selector", "matchLabels"), podLabels) {
		t.Error("Deployment: its selector does not select its pods")
	}
	if r, _ := get(dep, "spec", "replicas").(int); r < 2 {
		t.Errorf("Deployment: %d replicas, want several", r)
	}
	if g, _ := get(pod, "spec", "terminationGracePeriodSeconds").(int); g < 20 {
		t.Errorf("Deployment: terminationGracePeriodSeconds %d: linger needs up to 10 s to leave the group, and margin", g)
	}
	if get(pod, "spec", "securityContext", "runAsNonRoot") != true {
		t.Error("Deployment: the pod should run as non-root")
	}
	if u, _ := get(pod, "spec", "securityContext", "runAsUser").(int); u == 0 {
		t.Error("Deployment: runAsUser should be the image's non-root user (65532)")
	}
	containers := list(pod, "spec", "containers")
	if len(containers) != 1 {
		t.Fatalf("Deployment: %d containers, want 1", len(containers))
	}
	c := containers[0]
	if args := list(c, "args"); len(args) != 1 || args[0] != "run" {
		t.Errorf("Deployment: args %v, want [run]", args)
	}
	if get(c, "securityContext", "readOnlyRootFilesystem") != true || get(c, "securityContext", "allowPrivilegeEscalation") != false {
		t.Error("Deployment: the container should have a read-only root file system and no privilege escalation")
	}
	ports := map[string]int{}
	for _, p := range list(c, "ports") {
		n, _ := get(p, "containerPort").(int)
		ports[str(p, "name")] = n
	}
	for probe, path := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz"} {
		if got := str(c, probe, "httpGet", "path"); got != path {
			t.Errorf("Deployment: %s path %q, want %s", probe, got, path)
		}
		port := get(c, probe, "httpGet", "port")
		if name, ok := port.(string); ok {
			port = ports[name]
		}
		if port != 9464 {
			t.Errorf("Deployment: %s port %v, want 9464", probe, port)
		}
	}

	// The environment: from the ConfigMap (and the Secret as files).
	env := map[string]string{}
	for _, ef := range list(c, "envFrom") {
		name := str(ef, "configMapRef", "name")
		cm := objs["ConfigMap/"+name]
		if cm == nil {
			t.Errorf("Deployment: envFrom names ConfigMap %q, which is not here", name)
			continue
		}
		for k, v := range obj(cm, "data") {
			env[k], _ = v.(string)
		}
	}
	for _, e := range list(c, "env") {
		if v := str(e, "value"); v != "" {
			env[str(e, "name")] = v
		}
	}
	// Every LINGER_ variable, set or commented out, is one linger run reads.
	known := runEnvVars(t)
	cmText := string(readFile(t, "kubernetes/"+from["ConfigMap/linger-env"]))
	for _, m := range regexp.MustCompile(`(?m)^\s*(?:#\s*)?(LINGER_[A-Z0-9_]+):`).FindAllStringSubmatch(cmText, -1) {
		if !known[m[1]] {
			t.Errorf("ConfigMap linger-env: linger run reads no %s", m[1])
		}
	}
	for k := range env {
		if strings.HasPrefix(k, "LINGER_") && !known[k] {
			t.Errorf("Deployment: linger run reads no %s", k)
		}
	}
	if env["LINGER_HTTP"] != "0.0.0.0:9464" {
		t.Errorf("Deployment: LINGER_HTTP=%q, want 0.0.0.0:9464 (the probes come from outside the pod)", env["LINGER_HTTP"])
	}
	if env["LINGER_BROKERS"] == "" {
		t.Error("Deployment: no LINGER_BROKERS")
	}
	limit := str(c, "resources", "limits", "memory")
	if str(c, "resources", "requests", "memory") == "" || str(c, "resources", "requests", "cpu") == "" || limit == "" {
		t.Error("Deployment: set cpu and memory requests and a memory limit")
	} else if cache := quantity(t, env["LINGER_CACHE_BYTES"]); quantity(t, limit) < cache*5/4+(128<<20) {
		t.Errorf("Deployment: memory limit %s is under 1.25 × LINGER_CACHE_BYTES (%s) + 128Mi for the runtime", limit, env["LINGER_CACHE_BYTES"])
	}

	// Volumes: the scoring config where LINGER_CONFIG points, the Secret.
	mounts := map[string]string{}
	for _, m := range list(c, "volumeMounts") {
		mounts[str(m, "name")] = str(m, "mountPath")
		if str(m, "subPath") != "" {
			t.Errorf("Deployment: volume %s mounted with subPath: ConfigMap and Secret updates would not reach it", str(m, "name"))
		}
	}
	var scoring string
	for _, v := range list(pod, "spec", "volumes") {
		name := str(v, "name")
		if cm := str(v, "configMap", "name"); cm != "" {
			if objs["ConfigMap/"+cm] == nil {
				t.Errorf("Deployment: volume %s names ConfigMap %q, which is not here", name, cm)
			}
			dir, file := filepath.Split(env["LINGER_CONFIG"])
			if filepath.Clean(dir) == mounts[name] {
				scoring = str(objs["ConfigMap/"+cm], "data", file)
			}
		}
		if s := str(v, "secret", "secretName"); s != "" && objs["Secret/"+s] == nil {
			t.Errorf("Deployment: volume %s names Secret %q, which is not here", name, s)
		}
	}
	if scoring == "" {
		t.Fatalf("Deployment: LINGER_CONFIG=%q is not a key of a mounted ConfigMap", env["LINGER_CONFIG"])
	}
	// The scoring config is valid, as linger run would find it.
	file := filepath.Join(t.TempDir(), "scoring.yaml")
	if err := os.WriteFile(file, []byte(scoring), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(lingerBinary(t), "config", "--check", file).CombinedOutput(); err != nil {
		t.Errorf("ConfigMap linger-scoring: linger config --check: %v\n%s", err, out)
	}

	// The Service, the PDB and the ServiceMonitor find the pods.
	svc := objs["Service/linger"]
	if !selects(obj(svc, "spec", "selector"), podLabels) {
		t.Error("Service: its selector does not select the Deployment's pods")
	}
	svcPorts := map[string]bool{}
	for _, p := range list(svc, "spec", "ports") {
		svcPorts[str(p, "name")] = true
		if tp := str(p, "targetPort"); tp != "" && ports[tp] == 0 {
			t.Errorf("Service: targetPort %q is not a container port", tp)
		}
	}
	if !selects(obj(objs["PodDisruptionBudget/linger"], "spec", "selector", "matchLabels"), podLabels) {
		t.Error("PodDisruptionBudget: its selector does not select the Deployment's pods")
	}
	sm := objs["ServiceMonitor/linger"]
	if str(sm, "apiVersion") != "monitoring.coreos.com/v1" {
		t.Errorf("ServiceMonitor: apiVersion %q", str(sm, "apiVersion"))
	}
	if !selects(obj(sm, "spec", "selector", "matchLabels"), obj(svc, "metadata", "labels")) {
		t.Error("ServiceMonitor: its selector does not select the Service")
	}
	for _, ep := range list(sm, "spec", "endpoints") {
		if !svcPorts[str(ep, "port")] || str(ep, "path") != "/metrics" {
			t.Errorf("ServiceMonitor: endpoint port %q path %q, want a Service port and /metrics", str(ep, "port"), str(ep, "path"))
		}
	}

	// KEDA scales the Deployment on the lag of linger's group.
	so := objs["ScaledObject/linger"]
	if str(so, "apiVersion") != "keda.sh/v1alpha1" || str(so, "spec", "scaleTargetRef", "name") != "linger" {
		t.Error("ScaledObject: should be keda.sh/v1alpha1 and scale Deployment linger")
	}
	trig := list(so, "spec", "triggers")
	if len(trig) != 1 || str(trig[0], "type") != "kafka" {
		t.Fatalf("ScaledObject: triggers %v, want one of type kafka", trig)
	}
	md := obj(trig[0], "metadata")
	events := env["LINGER_EVENTS_TOPIC"]
	if events == "" {
		events = "visitor-events"
	}
	for k, want := range map[string]string{"bootstrapServers": env["LINGER_BROKERS"], "consumerGroup": env["LINGER_GROUP"], "topic": events} {
		if md[k] != want {
			t.Errorf("ScaledObject: %s %v, want %q as linger run has it", k, md[k], want)
		}
	}
	if _, err := strconv.Atoi(str(md, "lagThreshold")); err != nil {
		t.Errorf("ScaledObject: lagThreshold %v should be a number in a string", md["lagThreshold"])
	}
	if max, _ := get(so, "spec", "maxReplicaCount").(int); max < 2 || max > 16 {
		t.Errorf("ScaledObject: maxReplicaCount %d: more replicas than the events topic's partitions (16) would idle", max)
	}
}
